"""``pictor serve``: start and supervise Nginx and the Hypercorn origin.

With Nginx installed (and without ``--no-nginx``) Nginx listens on the public port and
serves every cached variant itself; the origin listens on a unix socket inside
``data/run``.  Without Nginx the origin listens on the public port and serves cached
variants from disk itself (the embedded default).  SIGINT/SIGTERM stop everything
cleanly; a child that dies takes the whole server down with a message saying which.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from indexer.config import Settings
from indexer.db import open_database
from indexer.keys import ensure_first_key
from indexer.layout import DataLayout
from origin import nginx

log = logging.getLogger("pictor.serve")
STOP_DEADLINE_SECONDS = 20.0
POLL_SECONDS = 0.2


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    stop_signal: int = signal.SIGTERM


@dataclass
class Supervisor:
    children: list[Child] = field(default_factory=list)
    stopping: bool = False

    def start(
        self, name: str, argv: list[str], env: dict[str, str], stop_signal: int = signal.SIGTERM
    ) -> None:
        process = subprocess.Popen(argv, env=env)
        self.children.append(Child(name, process, stop_signal))

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def wait(self) -> int:
        """Block until a signal or a dead child; then stop the rest.  Returns the exit code."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        failed = None
        while not self.stopping and failed is None:
            failed = next((c for c in self.children if c.process.poll() is not None), None)
            time.sleep(POLL_SECONDS)
        if failed is not None:
            print(
                f"pictor: {failed.name} exited with status {failed.process.returncode}; stopping",
                file=sys.stderr,
            )
        self.stop_all()
        return 0 if failed is None else 1

    def stop_all(self) -> None:
        for child in reversed(self.children):
            if child.process.poll() is None:
                child.process.send_signal(child.stop_signal)
        deadline = time.monotonic() + STOP_DEADLINE_SECONDS
        for child in self.children:
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()


def child_environment(settings: Settings, layout: DataLayout, config: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PICTOR_SERVER_DATA_DIR"] = str(layout.root)
    env["PICTOR_SERVER_PORT"] = str(settings.server.port)
    if config:
        env["PICTOR_CONFIG"] = str(Path(config).resolve())
    metrics_dir = layout.run / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    return env


def hypercorn_argv(settings: Settings, bind: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "hypercorn",
        "--workers",
        str(settings.server.workers),
        "--bind",
        bind,
        "--graceful-timeout",
        "15",
        "--keep-alive",
        "75",
        "origin.asgi:app",
    ]


def run(
    settings: Settings, *, no_nginx: bool, ingest: list[Path], watch: bool, config: str | None
) -> int:
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    connection = open_database(layout.database)  # migrate once, before the workers race to
    first_key = ensure_first_key(connection)
    connection.close()
    if first_key:
        print("pictor: first run: created API key 'admin' (every scope), shown once:")
        print(first_key, flush=True)
    env = child_environment(settings, layout, config)
    supervisor = Supervisor()
    public = f"http://{settings.server.host}:{settings.server.port}"
    use_nginx = not no_nginx and nginx.available()
    if not no_nginx and not use_nginx:
        print(
            "pictor: nginx is not installed; the origin serves everything itself "
            "(install nginx for the fast path)",
            file=sys.stderr,
        )
    if use_nginx:
        socket = layout.run / "origin.sock"
        socket.unlink(missing_ok=True)
        supervisor.start("origin", hypercorn_argv(settings, f"unix:{socket}"), env)
        conf = nginx.write_config(settings, layout, socket)
        supervisor.start("nginx", nginx.command(layout, conf), env, signal.SIGQUIT)
    else:
        bind = f"{settings.server.host}:{settings.server.port}"
        supervisor.start("origin", hypercorn_argv(settings, bind), env)
    if not settings.security.signing_keys:
        print(
            "pictor: WARNING no signing key configured: unsigned URLs (/img/_/...) are "
            "allowed. Set security.signing_keys for production.",
            file=sys.stderr,
        )
    print(
        f"pictor: serving on {public}  (delivery {public}/img/..., status {public}/api/status)",
        flush=True,
    )
    return supervisor.wait()

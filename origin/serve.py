"""``pictor serve``: start and supervise Nginx and the Hypercorn origin.

With Nginx installed (and without ``--no-nginx``) Nginx listens on the public port and
serves every cached variant itself; the origin listens on a unix socket inside
``data/run``.  Without Nginx the origin listens on the public port and serves cached
variants from disk itself (the embedded default).  SIGINT/SIGTERM stop everything
cleanly (exit 0); a child that dies takes the whole server down with a message naming
it (exit 1), so a process manager above us can restart the set as a unit.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from indexer.clip import missing_extra
from indexer.config import Settings
from indexer.db import open_database
from indexer.janitor import remove_temp_files
from indexer.jobs import CLIP, report_state
from indexer.keys import ensure_first_key
from indexer.layout import DataLayout
from origin import fallback, nginx
from origin.key_rotation import prune_if_keys_changed

log = logging.getLogger("pictor.serve")
STOP_DEADLINE_SECONDS = 20.0
POLL_SECONDS = 0.2
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """Runs in the child before exec: if ``pictor serve`` itself is killed (even with
    SIGKILL, which we cannot catch), the kernel sends the child SIGTERM."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    """One supervised program.  It leads its own process group, so its helpers (Hypercorn
    workers, Nginx workers) can be found and stopped even when the leader died first."""

    name: str
    process: subprocess.Popen[bytes]
    stop_signal: int = signal.SIGTERM
    oneshot: bool = False  # may finish with status 0 (startup ingest) without stopping us

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    @property
    def failed(self) -> bool:
        return not self.alive and not (self.oneshot and self.process.returncode == 0)

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
            os.killpg(self.process.pid, signum)

    def describe_exit(self) -> str:
        code = self.process.returncode
        if code is not None and code < 0:
            return f"was killed by {signal.Signals(-code).name}"
        return f"exited with status {code}"


@dataclass
class Supervisor:
    children: list[Child] = field(default_factory=list)
    stopping: bool = False

    def install_signal_handlers(self) -> None:
        """Before the first child starts, so a signal during startup still stops cleanly."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def start(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        stop_signal: int = signal.SIGTERM,
        oneshot: bool = False,
    ) -> Child:
        # Own process group: a terminal's Ctrl-C reaches only us, and we stop the
        # children ourselves, each gracefully: Nginx (SIGQUIT) stops accepting and waits
        # for its proxied requests while the origin (SIGTERM) finishes the same renders.
        process = subprocess.Popen(
            argv, env=env, process_group=0, preexec_fn=_die_with_parent
        )
        child = Child(name, process, stop_signal, oneshot)
        self.children.append(child)
        return child

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def wait(self) -> int:
        """Block until a signal or a dead child; then stop the rest.  Returns the exit code."""
        failed: Child | None = None
        while not self.stopping and failed is None:
            failed = next((c for c in self.children if c.failed), None)
            if failed is None:
                time.sleep(POLL_SECONDS)
        if failed is not None:
            print(
                f"pictor: {failed.name} (pid {failed.process.pid}) {failed.describe_exit()}; "
                "stopping everything",
                file=sys.stderr,
                flush=True,
            )
        self.stop_all()
        return 0 if failed is None else 1

    def stop_all(self) -> None:
        for child in reversed(self.children):
            if child.alive:
                child.process.send_signal(child.stop_signal)
            else:
                child.signal_group(signal.SIGTERM)  # helpers orphaned by a dead leader
        deadline = time.monotonic() + STOP_DEADLINE_SECONDS
        for child in reversed(self.children):
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"pictor: {child.name} did not stop in time; killing it", file=sys.stderr)
                child.signal_group(signal.SIGKILL)
                child.process.wait()
            child.signal_group(signal.SIGKILL)  # anything of its group still left


def child_environment(settings: Settings, layout: DataLayout, config: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PICTOR_SERVER_DATA_DIR"] = str(layout.root)
    env["PICTOR_SERVER_PORT"] = str(settings.server.port)
    if settings.server.fallback_image is not None:
        env["PICTOR_SERVER_FALLBACK_IMAGE"] = str(settings.server.fallback_image.resolve())
    if config:
        env["PICTOR_CONFIG"] = str(Path(config).resolve())
    metrics_dir = layout.run / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    # glibc gives every thread that allocates its own malloc arena (up to 8 per core);
    # freed pixel buffers then stay spread over them.  Two arenas keep a worker's RSS
    # close to what it uses (bench/results/load.md).  An operator's own value wins.
    env.setdefault("MALLOC_ARENA_MAX", "2")
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


def janitor_argv(settings: Settings) -> list[str]:
    """The cache janitor (``pictor cache gc --every N``) is a child of its own rather than a
    task inside a Hypercorn worker: the workers are identical, so none is naturally the
    one to run it, and walking a large cache would take the GIL from requests."""
    every = str(settings.cache.janitor_seconds)
    return [sys.executable, "-m", "origin.cli", "cache", "gc", "--every", every]


def ingest_argv(folders: list[Path], watch: bool) -> list[str]:
    """``--ingest DIR [--watch]``: the folder ingest/watcher (indexer.watch) as a child."""
    flags = ["--watch"] if watch else []
    return [sys.executable, "-m", "indexer.watch", *flags, *(str(f.resolve()) for f in folders)]


def start_ai_worker(
    supervisor: Supervisor, settings: Settings, layout: DataLayout, env: dict[str, str]
) -> None:
    """``pictor worker`` (CLIP tags, alt-text, semantic search) when the ai extra is
    importable — checked with find_spec, so torch never loads in this process.
    Otherwise one clear line; images stay queued for a later start with AI."""
    reason = missing_extra() if settings.ai.enabled else "ai.enabled is false"
    if reason is None:
        supervisor.start("worker", [sys.executable, "-m", "origin.cli", "worker"], env)
        return
    print(f"pictor: AI tagging and semantic search are off: {reason}", file=sys.stderr)
    with closing(open_database(layout.database)) as connection:
        report_state(connection, CLIP, "unavailable", reason)


def check_ingest_folders(folders: list[Path], watch: bool) -> str | None:
    if watch and not folders:
        return "--watch needs at least one --ingest DIR"
    missing = [str(folder) for folder in folders if not folder.is_dir()]
    return f"--ingest: not a folder: {', '.join(missing)}" if missing else None


def check_nginx_config(layout: DataLayout, conf: Path) -> bool:
    """``nginx -t`` first: a bad configuration is one clear message, not a dead child."""
    result = subprocess.run(nginx.test_command(layout, conf), capture_output=True, text=True)
    if result.returncode != 0:
        print(f"pictor: nginx rejects {conf}:\n{result.stderr.strip()}", file=sys.stderr)
    return result.returncode == 0


def start_with_nginx(
    supervisor: Supervisor, settings: Settings, layout: DataLayout, env: dict[str, str]
) -> bool:
    socket = nginx.default_socket(layout)
    conf = nginx.write_config(
        settings, layout, nginx.unix_upstream(socket), nginx.config_path(layout)
    )
    if not check_nginx_config(layout, conf):
        return False
    socket.unlink(missing_ok=True)
    supervisor.start("origin", hypercorn_argv(settings, f"unix:{socket}"), env)
    # SIGQUIT: Nginx's graceful stop (finish the requests in flight).
    supervisor.start("nginx", nginx.command(layout, conf), env, signal.SIGQUIT)
    return True


def use_nginx(no_nginx: bool) -> bool:
    if no_nginx:
        return False
    if not nginx.available():
        print(
            "pictor: nginx is not installed; the origin serves everything itself "
            "(install nginx for the fast path)",
            file=sys.stderr,
        )
        return False
    return True


def announce(settings: Settings, with_nginx: bool) -> None:
    if not settings.security.signing_keys:
        print(
            "pictor: WARNING no signing key configured: unsigned URLs (/img/_/...) are "
            "allowed. Set security.signing_keys for production.",
            file=sys.stderr,
        )
    public = f"http://{settings.server.host}:{settings.server.port}"
    front = "nginx in front of the origin" if with_nginx else "origin only"
    print(
        f"pictor: serving on {public} ({front})  delivery {public}/img/...  "
        f"status {public}/api/status",
        flush=True,
    )


def run(
    settings: Settings,
    *,
    no_nginx: bool,
    ingest: list[Path],
    watch: bool,
    config: str | None,
    no_worker: bool = False,
) -> int:
    if (problem := check_ingest_folders(ingest, watch)) is not None:
        print(f"pictor: {problem}", file=sys.stderr)
        return 2
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    fallback.check(settings)
    nginx.check_settings(settings)
    connection = open_database(layout.database)  # migrate once, before the workers race to
    first_key = ensure_first_key(connection)
    connection.close()
    if first_key:
        print("pictor: first run: created API key 'admin' (every scope), shown once:")
        print(first_key, flush=True)
    if removed := prune_if_keys_changed(layout, settings.security.signing_keys):
        print(f"pictor: signing keys changed: removed {removed} cached variant folder(s) "
              "signed by keys no longer configured", file=sys.stderr)
    if (leftovers := remove_temp_files(layout).files) > 0:  # no renderer runs yet
        print(f"pictor: removed {leftovers} temp file(s) left in the cache by a crash",
              file=sys.stderr)
    env = child_environment(settings, layout, config)
    supervisor = Supervisor()
    supervisor.install_signal_handlers()
    with_nginx = use_nginx(no_nginx)
    if with_nginx:
        if not start_with_nginx(supervisor, settings, layout, env):
            return 1
    else:
        bind = f"{settings.server.host}:{settings.server.port}"
        supervisor.start("origin", hypercorn_argv(settings, bind), env)
    supervisor.start("janitor", janitor_argv(settings), env)
    if not no_worker:  # docker compose runs `pictor worker` as its own service
        start_ai_worker(supervisor, settings, layout, env)
    if ingest:  # without --watch the folder ingest finishes, and the server keeps running
        supervisor.start("ingest", ingest_argv(ingest, watch), env, oneshot=not watch)
    announce(settings, with_nginx)
    return supervisor.wait()

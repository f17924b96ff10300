"""Shared fixtures: the photo corpus, data directories, and real running servers.

Servers are real processes: ``pictor serve`` starts Hypercorn (and Nginx unless
``--no-nginx``) on a free loopback port, exactly as a user would.  When ``CI`` is set
every external part (nginx, chromium, the ai extra) is mandatory: a missing one fails
the test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from indexer.config import Settings, load_settings
from indexer.db import open_database
from indexer.folders import collect, ingest_files
from indexer.layout import DataLayout

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PICTOR_SHARED", REPO.parent / "shared"))
CORPUS = SHARED / "corpus" / "photos"
VECTORS = SHARED / "contract" / "vectors.json"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(available: bool, what: str) -> None:
    """Skip locally when a system part is missing; in CI that is a failure."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but missing")
    pytest.skip(f"{what} is not installed")


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def corpus() -> list[Path]:
    photos = sorted(CORPUS.glob("*"))
    require(bool(photos), f"the photo corpus at {CORPUS}")
    return photos


def photo(name: str) -> Path:
    return CORPUS / name


def make_settings(data_dir: Path, **sections: dict[str, Any]) -> Settings:
    """Settings for a test: defaults plus the given sections, never the developer's
    ``pictor.toml`` or ``PICTOR_*`` environment."""
    sections.setdefault("server", {})
    sections["server"] = {"data_dir": data_dir, **sections["server"]}
    return Settings.model_validate(sections)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


def ingest_paths(settings: Settings, paths: list[Path]) -> dict[str, str]:
    """Ingest files; return {file name: image id}."""
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    with closing(open_database(layout.database)) as connection:
        summary = ingest_files(connection, layout, settings, collect(paths, recursive=False))
    assert not summary.rejected, summary.rejected
    ids = {path.name: image_id for path, image_id in summary.added}
    ids.update({path.name: image_id for path, image_id in summary.duplicates})
    return ids


@dataclass
class Server:
    """A running ``pictor serve``: base URL, data layout and the process."""

    url: str
    port: int
    layout: DataLayout
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        with self.client() as client:
            return client.get(path, **kwargs)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)

    def logs(self) -> str:
        return self.log.read_text(errors="replace")


def write_toml(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            name = key if key.replace("_", "").replace("-", "").isalnum() else f'"{key}"'
            lines.append(f"{name} = {_toml_value(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def clean_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICTOR_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["HF_HUB_OFFLINE"] = "1"  # CLIP weights are never downloaded in tests
    return env


def start_server(
    tmp_path: Path,
    *,
    nginx: bool,
    config: dict[str, dict[str, Any]] | None = None,
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> Server:
    if nginx:
        require(shutil.which("nginx") is not None or Path("/usr/sbin/nginx").exists(), "nginx")
    port = free_port()
    data = tmp_path / "data"
    # The AI worker loads torch (about 1 GB and seconds of CPU per server): test servers
    # run without it unless the test configures [ai] itself (tests/test_worker.py).
    config = {"ai": {"enabled": False}, **(config or {})}
    conf = write_toml(tmp_path / "pictor.toml", config)
    log = tmp_path / f"serve-{port}.log"
    argv = [sys.executable, "-m", "origin.cli", "serve", "--config", str(conf),
            "--data", str(data), "--port", str(port), *(extra_args or [])]
    if not nginx:
        argv.append("--no-nginx")
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                   env={**clean_environment(), **(env or {})}, cwd=tmp_path)
    server = Server(f"http://127.0.0.1:{port}", port, DataLayout.at(data), process, log)
    _wait_ready(server)
    return server


def _wait_ready(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"pictor serve exited early:\n{server.logs()}")
        try:
            if httpx.get(server.url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"pictor serve did not become ready:\n{server.logs()}")


ServerFactory = Callable[..., Server]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start servers with ``serve(nginx=True, config={...})``; all are stopped afterwards."""
    started: list[Server] = []

    def factory(**kwargs: Any) -> Server:
        directory = tmp_path / f"server{len(started)}"
        directory.mkdir()
        server = start_server(directory, **kwargs)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


def load_test_settings(server: Server) -> Settings:
    return load_settings(server.layout.root.parent / "pictor.toml")

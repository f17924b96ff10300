"""Crash safety with real processes: ``kill -9`` of the origin during 20 concurrent
renders, then a restart; and SIGTERM finishing the renders in flight."""

from __future__ import annotations

import asyncio
import io
import signal
import threading
from pathlib import Path

import httpx
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from indexer.janitor import is_temp
from tests.conftest import Server, ingest_paths, make_settings, photo, start_server
from tests.processes import alive, child_running, descendants, signal_group, wait_for

BIG = "seeding_by_Clements_Engelhardt.jpg"  # 5312x2988: a 16-megapixel original
RENDERS = 20
# Big WebP outputs: each render takes a noticeable moment, so twenty are in flight at once.
WIDTHS = [1700 + 10 * i for i in range(RENDERS)]
CONFIG = {"server": {"workers": 2}}


def gauge(server: Server, name: str) -> float:
    try:
        text = httpx.get(server.url + "/metrics", timeout=10).text
    except httpx.HTTPError:
        return -1
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    return 0


class Burst:
    """Every request at once, each on its own connection: one event loop in a background
    thread (the test's main thread meanwhile watches the server and signals it)."""

    def __init__(self, server: Server, paths: list[str]) -> None:
        self.results: dict[str, httpx.Response | Exception] = {}
        self.thread = threading.Thread(target=asyncio.run, args=(self._all(server, paths),))
        self.thread.start()

    async def _all(self, server: Server, paths: list[str]) -> None:
        limits = httpx.Limits(max_connections=len(paths), max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            await asyncio.gather(*(self._get(client, server.url + path) for path in paths))

    async def _get(self, client: httpx.AsyncClient, url: str) -> None:
        path = url.split("/", 3)[3]
        try:
            self.results["/" + path] = await client.get(url)
        except httpx.HTTPError as error:
            self.results["/" + path] = error

    def join(self) -> dict[str, httpx.Response | Exception]:
        self.thread.join()
        return self.results


def assert_complete_image(data: bytes, width: int) -> None:
    """Decodes to the last pixel (a truncated WebP or JPEG raises here)."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.width == width


def variant_files(server: Server) -> tuple[list[Path], list[Path]]:
    files = [p for p in server.layout.cache.rglob("*") if p.is_file()]
    return [p for p in files if not is_temp(p.name)], [p for p in files if is_temp(p.name)]


@pytest.fixture
def big_image(tmp_path: Path) -> tuple[Path, str]:
    directory = tmp_path / "site"
    directory.mkdir()
    settings = make_settings(directory / "data")
    return directory, ingest_paths(settings, [photo(BIG)])[BIG]


def paths_for(image_id: str) -> list[str]:
    return [f"/img/_/w_{width}/{image_id}.webp" for width in WIDTHS]


def test_kill_9_during_renders_then_restart_serves_only_complete_variants(
    big_image: tuple[Path, str],
) -> None:
    directory, image_id = big_image
    server = start_server(directory, nginx=False, config=CONFIG)
    paths = paths_for(image_id)
    try:
        origin = child_running(server.process.pid, "hypercorn")
        burst = Burst(server, paths)
        # Distinct renders accepted and not finished, summed over both workers (one worker
        # may have taken every connection, and it renders one at a time per core).
        wait_for(lambda: gauge(server, "pictor_render_queue") >= 2, "renders in flight")
        signal_group(origin, signal.SIGKILL)  # the origin leads its own process group
        results = burst.join()
        assert server.process.wait(60) == 1  # the supervisor reports the dead origin
    finally:
        server.stop()
    assert any(isinstance(result, Exception) for result in results.values())
    wait_for(lambda: not any(alive(pid) for pid in descendants(server.process.pid)), "exit")

    # Whatever reached the disk before the crash is complete, never half a file.
    finished, _ = variant_files(server)
    for path in finished:
        assert_complete_image(path.read_bytes(), int(path.stem.split("_")[1]))
    # A temp file as a crash leaves it (the kill may or may not have caught one mid-write).
    leftover = server.layout.cache / image_id[:2] / image_id / "_" / ".w_9.webp.0123456789ab.tmp"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"RIFF\x00\x10\x00\x00WEBPVP8 half")

    restarted = start_server(directory, nginx=False, config=CONFIG)
    try:
        _, temps = variant_files(restarted)
        assert temps == [], "temp files are removed at startup"
        assert "temp file(s) left in the cache by a crash" in restarted.logs()
        with restarted.client() as client:
            for path, width in zip(paths, WIDTHS, strict=True):
                response = client.get(path)
                assert response.status_code == 200, response.text
                assert_complete_image(response.content, width)
        finished_after, _ = variant_files(restarted)
        assert len(finished_after) == RENDERS
        for path in finished_after:
            assert_complete_image(path.read_bytes(), int(path.stem.split("_")[1]))
    finally:
        restarted.stop()


# Renders wider than the largest pyramid level decode the 16-megapixel original: slow
# enough to be caught in flight, few enough to finish within Hypercorn's grace period
# (15 s) even on a busy machine.
SLOW_WIDTHS = [3000 + 10 * i for i in range(4)]


def test_sigterm_finishes_renders_in_flight_and_exits_0(big_image: tuple[Path, str]) -> None:
    directory, image_id = big_image
    server = start_server(directory, nginx=False, config=CONFIG)
    paths = [f"/img/_/w_{width}/{image_id}.jpg" for width in SLOW_WIDTHS]

    def accepted_and_in_flight() -> bool:
        pending = gauge(server, "pictor_render_queue")
        return pending >= 1 and pending + len(variant_files(server)[0]) >= len(paths)

    try:
        burst = Burst(server, paths)
        wait_for(accepted_and_in_flight, "every request inside the renderer, some unfinished")
        server.process.send_signal(signal.SIGTERM)
        results = burst.join()
        assert server.process.wait(60) == 0
    finally:
        server.stop()
    for path, width in zip(paths, SLOW_WIDTHS, strict=True):
        response = results[path]
        assert isinstance(response, httpx.Response), f"{path}: {response!r}"
        assert response.status_code == 200, response.text
        assert_complete_image(response.content, width)
    with pytest.raises(httpx.ConnectError):  # stopped listening
        httpx.get(server.url + "/healthz", timeout=5)
    assert "unhandled error" not in server.logs()
    assert "did not stop in time" not in server.logs()

"""The cache janitor: LRU eviction with watermarks, temp files, containment, purge,
the ``pictor cache`` commands, a budget of 0 and low disk, against real files and a
real server."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from indexer.config import CacheSettings
from indexer.errors import BadRequest
from indexer.janitor import (
    CacheFile,
    collect_garbage,
    is_temp,
    plan_eviction,
    purge,
    remove_temp_files,
    scan,
)
from indexer.layout import DataLayout
from tests.conftest import REPO, Server, ServerFactory, ingest_paths, make_settings, photo

ID_A = "aa" + "0" * 18
ID_B = "bb" + "1" * 18


def item(name: str, size: int, last_used: float) -> CacheFile:
    return CacheFile(Path("/c") / name, size, last_used, written=last_used)


def test_plan_eviction_keeps_fresh_files() -> None:
    files = [item("a", 10, 1), item("b", 10, 2), item("c", 10, 3)]
    assert [f.path.name for f in plan_eviction(files, 0, 0.8, fresh_since=2)] == ["a"]


@pytest.mark.parametrize(
    ("sizes_and_times", "budget", "low", "evicted"),
    [
        ([("a", 10, 1), ("b", 10, 2)], 20, 0.5, []),  # at the budget: nothing to do
        ([("a", 10, 1), ("b", 10, 2), ("c", 10, 3)], 25, 0.8, ["a"]),  # 30 -> 20
        ([("a", 10, 3), ("b", 10, 1), ("c", 10, 2)], 25, 0.9, ["b"]),  # 22.5 -> 20 fits
        ([("a", 30, 5), ("b", 1, 1), ("c", 1, 2)], 25, 0.8, ["b", "c", "a"]),  # LRU, not size
        ([("b", 5, 1), ("a", 5, 1), ("c", 5, 9)], 10, 0.5, ["a", "b"]),  # ties: path order
        ([("a", 5, 1), ("b", 5, 2)], 0, 0.8, ["a", "b"]),  # budget 0 keeps nothing
    ],
)
def test_plan_eviction(
    sizes_and_times: list[tuple[str, int, float]], budget: int, low: float, evicted: list[str]
) -> None:
    files = [item(*spec) for spec in sizes_and_times]
    chosen = plan_eviction(files, budget, low)
    assert [f.path.name for f in chosen] == evicted


@pytest.mark.parametrize(
    ("name", "temp"),
    [
        (".w_100.jpg.0a1b2c3d4e5f.tmp", True),
        ("w_100.jpg", False),
        ("w_100.tmp", False),  # no leading dot: not one of ours
        (".hidden", False),
    ],
)
def test_is_temp(name: str, temp: bool) -> None:
    assert is_temp(name) is temp


def write(path: Path, size: int, used: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (used, used))
    return path


@pytest.fixture
def layout(tmp_path: Path) -> DataLayout:
    layout = DataLayout.at(tmp_path / "data")
    layout.create()
    return layout


def test_gc_evicts_least_recently_used_down_to_the_low_watermark(layout: DataLayout) -> None:
    now = time.time()
    cache = layout.cache
    old = write(cache / "aa" / ID_A / "_" / "w_1.jpg", 100, now - 5000)
    used_recently = write(cache / "aa" / ID_A / "_" / "w_2.jpg", 100, now - 10)
    middle = write(cache / "bb" / ID_B / "_" / "w_3.webp", 100, now - 3000)
    newest = write(cache / "bb" / ID_B / "_" / "w_4.webp", 100, now - 1)
    report = collect_garbage(layout, CacheSettings(max_bytes=350, low_watermark=0.6))
    assert report.before.files == 4 and report.before.bytes == 400
    assert report.evicted.files == 2 and report.evicted.bytes == 200
    assert not old.exists() and not middle.exists()
    assert used_recently.exists() and newest.exists()
    assert report.after.bytes == 200 <= 350 * 0.6
    # Under the budget now: a second pass removes nothing.
    assert collect_garbage(layout, CacheSettings(max_bytes=350)).evicted.files == 0


def test_gc_never_touches_temp_files_in_use_links_or_outside_files(
    layout: DataLayout, tmp_path: Path
) -> None:
    now = time.time()
    directory = layout.cache / "aa" / ID_A / "_"
    writing = write(directory / ".w_9.jpg.aaaaaaaaaaaa.tmp", 500, now)
    orphan = write(directory / ".w_8.jpg.bbbbbbbbbbbb.tmp", 500, now - 3600)
    outside = write(tmp_path / "precious.jpg", 50, now - 99999)
    (directory / "link.jpg").symlink_to(outside)
    (layout.cache / "aa" / "escape").symlink_to(tmp_path, target_is_directory=True)
    report = collect_garbage(layout, CacheSettings(max_bytes=0))
    assert writing.exists(), "a temp file being written must never be removed"
    assert not orphan.exists(), "a temp file older than the grace period is a crash leftover"
    assert report.temp_removed.files == 1
    assert outside.exists() and (directory / "link.jpg").is_symlink()
    assert report.before.files == 0  # neither temp files nor links count as variants


def test_gc_prunes_idle_empty_directories_only(layout: DataLayout) -> None:
    idle = layout.cache / "aa" / ID_A / "sig1"
    fresh = layout.cache / "bb" / ID_B / "sig2"
    idle.mkdir(parents=True)
    fresh.mkdir(parents=True)
    long_ago = time.time() - 7200
    for path in (idle, idle.parent, idle.parent.parent):
        os.utime(path, (long_ago, long_ago))
    report = collect_garbage(layout, CacheSettings())
    assert not (layout.cache / "aa").exists()
    assert fresh.is_dir()
    assert report.dirs_removed == 3
    assert layout.cache.is_dir()


def test_remove_temp_files_at_startup_takes_them_all(layout: DataLayout) -> None:
    directory = layout.cache / "aa" / ID_A / "_"
    temp = write(directory / ".w_1.jpg.cccccccccccc.tmp", 10, time.time())
    variant = write(directory / "w_1.jpg", 10, time.time())
    assert remove_temp_files(layout).files == 1
    assert not temp.exists() and variant.exists()


def test_purge_one_image_or_all(layout: DataLayout) -> None:
    now = time.time()
    a = write(layout.cache / "aa" / ID_A / "_" / "w_1.jpg", 10, now)
    b = write(layout.cache / "bb" / ID_B / "_" / "w_1.jpg", 20, now)
    temp = write(layout.cache / "bb" / ID_B / "_" / ".w_2.jpg.dddddddddddd.tmp", 5, now)
    removed = purge(layout, ID_A)
    assert (removed.files, removed.bytes) == (1, 10)
    assert not a.exists() and b.exists()
    assert purge(layout, "cc" + "2" * 18).files == 0  # no variants: fine
    with pytest.raises(BadRequest, match="not an image id"):
        purge(layout, "../../etc")
    assert purge(layout).files == 1
    assert not b.exists() and temp.exists()


def test_scan_of_a_missing_cache_is_empty(tmp_path: Path) -> None:
    assert scan(tmp_path / "nothing") == ([], [])


# --- against a real server and the real command line ---------------------------------


def pictor(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "origin.cli", *args, "--config",
         str(server.layout.root.parent / "pictor.toml"), "--data", str(server.layout.root)],
        capture_output=True, text=True, cwd=REPO, check=False,
    )


def decoded(response: httpx.Response) -> Image.Image:
    assert response.status_code == 200, response.text
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def variants_on_disk(server: Server) -> list[Path]:
    return sorted(p for p in server.layout.cache.rglob("*") if p.is_file())


def ids_for(server: Server, *names: str) -> list[str]:
    settings = make_settings(server.layout.root)
    ids = ingest_paths(settings, [photo(name) for name in names])
    return [ids[name] for name in names]


def test_cache_commands_on_a_served_cache(serve: ServerFactory) -> None:
    server = serve(nginx=False, config={"cache": {"janitor_seconds": 3600}})
    first, second = ids_for(server, "LadyBird.jpg", "Storm.jpg")
    widths = (60, 70, 80)
    with server.client() as client:
        for image_id in (first, second):
            for width in widths:
                decoded(client.get(f"/img/_/w_{width}/{image_id}.jpg"))
    files = variants_on_disk(server)
    assert len(files) == 6
    stats = json.loads(pictor(server, "cache", "stats", "--json").stdout)
    assert stats["files"] == 6 and stats["images"] == 2 and stats["temp_files"] == 0
    assert stats["bytes"] == sum(p.stat().st_size for p in files)

    result = pictor(server, "cache", "purge", first)
    assert result.returncode == 0 and "removed 3 variant(s)" in result.stdout
    assert all(second in str(p) for p in variants_on_disk(server))
    with server.client() as client:  # purged variants render again, correctly
        response = client.get(f"/img/_/w_60/{first}.jpg")
        assert response.headers["x-cache"] == "MISS"
        assert decoded(response).width == 60

    bad = pictor(server, "cache", "purge", "not-an-id")
    assert bad.returncode == 1 and "not an image id" in bad.stderr


def test_gc_command_trims_a_tiny_budget_least_recently_used_first(serve: ServerFactory) -> None:
    server = serve(nginx=False, config={"cache": {"janitor_seconds": 3600}})
    (image_id,) = ids_for(server, "LadyBird.jpg")
    paths = []
    with server.client() as client:
        for width in (40, 50, 60, 70):
            decoded(client.get(f"/img/_/w_{width}/{image_id}.png"))
            paths.append(next(p for p in variants_on_disk(server) if f"w_{width}." in p.name))
    now = time.time()
    for age, path in zip((4000, 1000, 3000, 2000), paths, strict=True):  # w_50: most recent
        os.utime(path, (now - age, now - age))
    sizes = dict(zip((40, 50, 60, 70), (p.stat().st_size for p in paths), strict=True))
    budget = sum(sizes.values()) - 1  # one byte over budget
    # Eviction order is w_40, w_60, w_70, w_50: a low watermark between "w_50 + w_70" and
    # "w_50 + w_70 + w_60" must take exactly the first two.
    low = (sizes[50] + sizes[70] + sizes[60] / 2) / budget
    config = server.layout.root.parent / "pictor.toml"
    config.write_text(f"[cache]\nmax_bytes = {budget}\nlow_watermark = {low}\n")
    result = pictor(server, "cache", "gc")
    assert result.returncode == 0, result.stderr
    assert [p.exists() for p in paths] == [False, True, False, True]
    assert "evicted" in result.stdout
    with server.client() as client:  # evicted variants render again
        assert decoded(client.get(f"/img/_/w_40/{image_id}.png")).width == 40


def test_budget_zero_renders_every_request_and_writes_nothing(serve: ServerFactory) -> None:
    server = serve(nginx=False, config={"cache": {"max_bytes": 0}})
    (image_id,) = ids_for(server, "Storm.jpg")
    with server.client() as client:
        for _ in range(3):
            response = client.get(f"/img/_/fit_cover,h_90,w_160/{image_id}.webp")
            assert response.headers["x-cache"] == "MISS"
            assert decoded(response).size == (160, 90)
    assert variants_on_disk(server) == []


def test_low_disk_stops_writing_variants_keeps_serving_and_logs(serve: ServerFactory) -> None:
    server = serve(nginx=False, config={"cache": {"min_free_bytes": 2**62}})
    (image_id,) = ids_for(server, "Storm.jpg")
    with server.client() as client:
        for width in (100, 100, 120):
            response = client.get(f"/img/_/w_{width}/{image_id}.jpg")
            assert response.headers["x-cache"] == "MISS"
            assert decoded(response).width == width
    assert variants_on_disk(server) == []
    assert "below cache.min_free_bytes" in server.logs()


def test_serve_runs_the_janitor(serve: ServerFactory) -> None:
    """``pictor serve`` runs a janitor pass every ``cache.janitor_seconds``."""
    server = serve(nginx=False, config={"cache": {"janitor_seconds": 0.2, "max_bytes": 1}})
    (image_id,) = ids_for(server, "Storm.jpg")
    with server.client() as client:
        for _ in range(3):  # a fresh render is never evicted under the request serving it
            decoded(client.get(f"/img/_/w_64/{image_id}.jpg"))
    (variant,) = variants_on_disk(server)
    size = variant.stat().st_size
    an_hour_ago = time.time() - 3600
    os.utime(variant, (an_hour_ago, an_hour_ago))
    deadline = time.monotonic() + 30
    while variants_on_disk(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert variants_on_disk(server) == []
    assert "cache janitor: evicted 1 variant(s)" in server.logs()
    # The janitor child writes its counters where the workers do: /metrics shows them.
    metrics = httpx.get(server.url + "/metrics", timeout=30).text
    assert "pictor_cache_evicted_files_total 1.0" in metrics
    assert f"pictor_cache_evicted_bytes_total {float(size)}" in metrics
    assert "pictor_janitor_last_pass_timestamp_seconds" in metrics

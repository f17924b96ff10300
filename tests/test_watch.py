"""Watching folders: the settling rules (without waiting), a file that grows while
watched, a burst of 1,000 real files into ``pictor ingest --watch``, and
``pictor serve --ingest DIR [--watch]``."""

from __future__ import annotations

import hashlib
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import watchfiles

from indexer.db import open_database
from indexer.layout import DataLayout
from indexer.watch import FolderWatcher, Settler, Signature
from tests import ingest_samples as samples
from tests.conftest import ServerFactory, clean_environment, make_settings, photo, write_toml
from tests.processes import wait_for

A, B = Path("/w/a.jpg"), Path("/w/b.jpg")


def image_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:20]


def count_rows(database: Path) -> int:
    if not database.exists():
        return 0
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)) as db:
        try:
            return int(db.execute("SELECT count(*) FROM images").fetchone()[0])
        except sqlite3.OperationalError:  # schema not created yet
            return 0


def ids_in(database: Path) -> set[str]:
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)) as db:
        return {row[0] for row in db.execute("SELECT id FROM images")}


# -- the settling rules, with a hand-driven clock and stat ---------------------------------


def test_a_file_is_ready_once_unchanged_for_the_settle_time() -> None:
    settler = Settler(settle_seconds=2)
    sizes: dict[Path, Signature] = {A: (100, 1)}
    settler.observe(A, sizes[A], now=0)
    assert settler.ready(1.9, sizes.get) == []
    assert settler.ready(2.0, sizes.get) == [A]


def test_growth_restarts_the_clock() -> None:
    settler = Settler(settle_seconds=2)
    sizes: dict[Path, Signature] = {A: (100, 1)}
    settler.observe(A, sizes[A], now=0)
    sizes[A] = (200, 2)  # still being written: noticed by the stat in ready()
    assert settler.ready(1.5, sizes.get) == []
    assert settler.ready(3.0, sizes.get) == []  # only 1.5 s since it last grew
    assert settler.ready(3.5, sizes.get) == [A]


def test_an_event_with_a_new_size_restarts_the_clock_too() -> None:
    settler = Settler(settle_seconds=2)
    settler.observe(A, (100, 1), now=0)
    settler.observe(A, (150, 2), now=1.5)
    settler.observe(A, (150, 2), now=1.75)  # same signature again: the clock keeps running
    assert settler.ready(3.25, {A: (150, 2)}.get) == []
    assert settler.ready(3.5, {A: (150, 2)}.get) == [A]


def test_vanished_files_are_forgotten_and_finished_ones_not_repeated() -> None:
    settler = Settler(settle_seconds=0)
    settler.observe(A, (1, 1), now=0)
    settler.observe(B, (1, 1), now=0)
    assert settler.ready(0, {A: (1, 1)}.get) == [A]  # B was deleted meanwhile
    assert B not in settler.pending
    settler.finish(A, (1, 1))
    settler.observe(A, (1, 1), now=5)  # a rescan sees it again, unchanged
    assert settler.ready(10, {A: (1, 1)}.get) == []
    settler.observe(A, (2, 2), now=11)  # overwritten with new content: ingest again
    assert settler.ready(11, {A: (2, 2)}.get) == [A]


def test_non_files_are_never_pending() -> None:
    settler = Settler(settle_seconds=0)
    settler.observe(A, None, now=0)
    assert settler.pending == {}


@pytest.mark.parametrize(
    ("relative", "wanted"),
    [
        ("photo.jpg", True),
        ("2024/05/photo.jpg", True),
        (".photo.jpg.1a2b3c.tmp", False),
        ("photo.jpg.part", False),
        (".hidden.jpg", False),
        (".thumbnails/photo.jpg", False),
        ("2024/.sync/photo.jpg", False),
        ("~photo.jpg", False),
    ],
)
def test_watch_filter(tmp_path: Path, relative: str, wanted: bool) -> None:
    settings = make_settings(tmp_path / "data")
    watcher = FolderWatcher(
        sqlite3.connect(":memory:"), DataLayout.at(tmp_path / "data"), settings, [tmp_path]
    )
    assert watcher.wanted(watchfiles.Change.added, str(tmp_path.resolve() / relative)) is wanted
    assert watcher.wanted(watchfiles.Change.added, "/elsewhere/photo.jpg") is False


# -- a real watcher on a real folder, in a thread, with a clock the test moves -----------


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def watching(tmp_path: Path) -> Iterator[tuple[FolderWatcher, ManualClock, list[str]]]:
    settings = make_settings(tmp_path / "data", ingest={"settle_seconds": 5})
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    folder = tmp_path / "incoming"
    folder.mkdir()
    clock, lines = ManualClock(), []
    with closing(open_database(layout.database)) as connection:
        watcher = FolderWatcher(
            connection, layout, settings, [folder], report=lines.append, clock=clock
        )
        stop = threading.Event()
        thread = threading.Thread(target=watcher.watch, args=(stop,))
        thread.start()
        try:
            yield watcher, clock, lines
        finally:
            stop.set()
            thread.join(timeout=60)
    assert not thread.is_alive()


def test_a_growing_file_is_ingested_only_once_complete(
    watching: tuple[FolderWatcher, ManualClock, list[str]]
) -> None:
    watcher, clock, lines = watching
    target = watcher.folders[0] / "growing.jpg"
    data = photo("Storm.jpg").read_bytes()
    with open(target, "wb") as handle:
        handle.write(data[:30000])
        handle.flush()
        wait_for(lambda: target in watcher.settler.pending, "the watcher to notice the file")
        clock.now += 4  # not yet settled ...
        handle.write(data[30000:])
    wait_for(
        lambda: watcher.settler.pending.get(target, ((0, 0), 0.0))[0][0] == len(data),
        "the watcher to see the file grow",
    )
    clock.now += 4  # ... 8 s since the file appeared, but only 4 s since it last grew
    assert count_rows(watcher.layout.database) == 0
    assert lines == []
    clock.now += 2
    wait_for(lambda: count_rows(watcher.layout.database) == 1, "the complete file to land")
    assert lines == [f"watch: added      {target}  {image_id(data)}"]


def test_hidden_temp_and_renamed_files(
    watching: tuple[FolderWatcher, ManualClock, list[str]]
) -> None:
    """A download written under a temporary name is ingested once renamed."""
    watcher, clock, lines = watching
    folder = watcher.folders[0]
    (folder / ".hidden.png").write_bytes(samples.solid_png(1))
    (folder / ".cache").mkdir()
    (folder / ".cache" / "inside.png").write_bytes(samples.solid_png(2))
    partial = folder / "download.png.part"
    partial.write_bytes(samples.solid_png(3))
    partial.rename(folder / "download.png")
    wait_for(lambda: folder / "download.png" in watcher.settler.pending, "the renamed file")
    clock.now += 10
    wait_for(lambda: count_rows(watcher.layout.database) == 1, "the renamed file to land")
    assert set(watcher.settler.done) == {folder / "download.png"}
    assert ids_in(watcher.layout.database) == {image_id(samples.solid_png(3))}
    assert len(lines) == 1


def test_a_folder_moved_in_is_walked(
    watching: tuple[FolderWatcher, ManualClock, list[str]], tmp_path: Path
) -> None:
    watcher, clock, _ = watching
    outside = tmp_path / "album"
    outside.mkdir()
    for index in range(5):
        (outside / f"{index}.png").write_bytes(samples.solid_png(100 + index))
    outside.rename(watcher.folders[0] / "album")
    wait_for(lambda: len(watcher.settler.pending) == 5, "the moved folder's files")
    clock.now += 10
    wait_for(lambda: count_rows(watcher.layout.database) == 5, "the album to land")


# -- real processes ------------------------------------------------------------------------


def config_file(tmp_path: Path, **sections: dict[str, object]) -> Path:
    return write_toml(
        tmp_path / "pictor.toml",
        {"server": {"data_dir": str(tmp_path / "data")}, **sections},  # type: ignore[dict-item]
    )


def test_a_burst_of_1000_files_into_pictor_ingest_watch(tmp_path: Path) -> None:
    watched, staging = tmp_path / "watched", tmp_path / "staging"
    watched.mkdir()
    staging.mkdir()
    (watched / "already-there.png").write_bytes(samples.solid_png(5000))
    sources = []
    for index in range(1000):
        source = staging / f"img{index:04d}.png"
        source.write_bytes(samples.solid_png(index, size=(12, 9)))
        sources.append(source)
    config = config_file(tmp_path, ingest={"settle_seconds": 0.5})
    log = tmp_path / "watch.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "origin.cli", "ingest", "--config", str(config), "--watch",
             str(watched)],
            stdout=out, stderr=subprocess.STDOUT, env=clean_environment(), cwd=tmp_path,
        )
    try:
        wait_for(lambda: "watching" in log.read_text(), "the watcher to start", timeout=120)
        assert "added 1, exact duplicates 0, rejected 0" in log.read_text()
        for source in sources:  # real copies: open, write, close, as cp would
            shutil.copy(source, watched / source.name)
        database = tmp_path / "data" / "pictor.db"
        wait_for(lambda: count_rows(database) == 1001, "1,000 files to be ingested", timeout=600)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    assert code == 0
    output = log.read_text()
    assert output.count("watch: added") == 1000
    assert "rejected" not in output.split("watching", 1)[1]
    assert ids_in(database) == {image_id(s.read_bytes()) for s in sources} | {
        image_id(samples.solid_png(5000))
    }


def test_serve_ingests_on_startup_and_watches(serve: ServerFactory, tmp_path: Path) -> None:
    folder = tmp_path / "library"
    (folder / "nested").mkdir(parents=True)
    shutil.copy(photo("Dune.jpg"), folder / "Dune.jpg")
    shutil.copy(photo("goldfish.png"), folder / "nested" / "goldfish.png")
    server = serve(
        nginx=False,
        config={"ingest": {"settle_seconds": 0.3}},
        extra_args=["--ingest", str(folder), "--watch"],
    )
    wait_for(lambda: count_rows(server.layout.database) == 2, "the startup ingest", timeout=120)
    new = photo("LadyBird.jpg")
    shutil.copy(new, folder / "nested" / "LadyBird.jpg")
    new_id = image_id(new.read_bytes())
    wait_for(lambda: new_id in ids_in(server.layout.database), "the new file", timeout=120)
    response = server.get(f"/img/_/w_64/{new_id}.jpg")
    assert response.status_code == 200
    assert server.process.poll() is None
    assert "watch: added" in server.logs()


def test_serve_without_watch_keeps_serving_after_the_startup_ingest(
    serve: ServerFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "library"
    folder.mkdir()
    shutil.copy(photo("Storm.jpg"), folder / "Storm.jpg")
    (folder / "readme.txt").write_text("hello")
    server = serve(nginx=False, extra_args=["--ingest", str(folder)])
    wait_for(lambda: "added 1, exact duplicates 0, rejected 1" in server.logs(),
             "the startup ingest summary", timeout=120)
    assert "readme.txt: not an image" in server.logs()
    storm = image_id(photo("Storm.jpg").read_bytes())
    assert server.get(f"/img/_/w_64/{storm}.jpg").status_code == 200
    assert server.process.poll() is None  # the finished ingest child did not stop the server


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ingest", "/nonexistent/folder"], "--ingest: not a folder: /nonexistent/folder"),
        (["--watch"], "--watch needs at least one --ingest DIR"),
    ],
)
def test_serve_refuses_bad_ingest_folders(tmp_path: Path, args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "origin.cli", "serve", "--config", str(config_file(tmp_path)),
         "--no-nginx", *args],
        capture_output=True, text=True, env=clean_environment(), cwd=tmp_path, timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stderr

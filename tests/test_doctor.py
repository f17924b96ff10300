"""``pictor doctor [--repair]`` on real data directories corrupted in every way it knows,
and ``kill -9`` in the middle of a large folder ingest."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import numpy
import pytest
from PIL import Image

from indexer.db import connect, open_database, transaction
from indexer.ingest import Upload, ingest
from indexer.layout import DataLayout
from indexer.removal import delete_rows
from tests import ingest_samples as samples
from tests.conftest import clean_environment, ingest_paths, make_settings, photo, write_toml
from tests.processes import wait_for

LONG_AGO = time.time() - 3600
GHOST = "0123456789abcdef0123"  # an id no image has


def pictor(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = write_toml(tmp_path / "pictor.toml", {"server": {"data_dir": str(tmp_path / "data")}})
    return subprocess.run(
        [sys.executable, "-m", "origin.cli", *args, "--config", str(config)],
        capture_output=True, text=True, env=clean_environment(), cwd=tmp_path, timeout=600,
    )


def doctor(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return pictor(tmp_path, "doctor", *args)


def rows(layout: DataLayout) -> set[str]:
    with closing(sqlite3.connect(layout.database)) as connection:
        return {row[0] for row in connection.execute("SELECT id FROM images")}


def old(path: Path) -> Path:
    os.utime(path, (LONG_AGO, LONG_AGO))
    return path


def leftover(path: Path) -> Path:
    """A temp file a crashed writer left an hour ago."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"partial")
    return old(path)


@pytest.fixture
def library(tmp_path: Path) -> tuple[DataLayout, dict[str, str]]:
    """A data directory with four images (one SVG) and a rendered variant of each."""
    settings = make_settings(tmp_path / "data")
    svg = tmp_path / "logo.svg"
    svg.write_bytes(
        b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20">'
        b'<rect width="20" height="20" fill="#dc1414"/></svg>'
    )
    names = ("Dune.jpg", "Storm.jpg", "Arc-Colors-Transparent-Wallpaper.png")
    photos = [photo(name) for name in names]
    ids = ingest_paths(settings, [*photos, svg])
    layout = DataLayout.at(settings.data_dir)
    for image_id in ids.values():
        variant = layout.variant_dir(image_id) / "_" / "w_100.jpg"
        variant.parent.mkdir(parents=True)
        variant.write_bytes(b"rendered")
    return layout, ids


def test_a_healthy_library_has_no_problems(
    tmp_path: Path, library: tuple[DataLayout, dict[str, str]]
) -> None:
    result = doctor(tmp_path)
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines() == [
        f"checked 4 images and 4 originals in {tmp_path / 'data'}",
        "no problems found",
    ]


def test_every_kind_of_damage_is_found_and_the_repairable_ones_repaired(
    tmp_path: Path, library: tuple[DataLayout, dict[str, str]]
) -> None:
    layout, ids = library
    dune, storm = ids["Dune.jpg"], ids["Storm.jpg"]
    arc, logo = ids["Arc-Colors-Transparent-Wallpaper.png"], ids["logo.svg"]

    # A crash between the original's fsync and the commit: original and pyramid, no row.
    with closing(connect(layout.database)) as connection, transaction(connection):
        delete_rows(connection, dune)  # and, through foreign keys, every dependent row
    old(layout.original(dune))
    # An original lost from disk while its row remains.
    layout.original(storm).unlink()
    # Broken derived files: a truncated level, a missing level, a level of the wrong size,
    # and an SVG whose rasterised master is gone.
    arc_pyramid = layout.pyramid_dir(arc)
    level = arc_pyramid / "1280.png"
    level.write_bytes(level.read_bytes()[:5000])
    (arc_pyramid / "640.png").unlink()
    (layout.pyramid_dir(logo) / "master.png").unlink()
    # Leftovers: variants and a pyramid of an image that does not exist, old temp files.
    ghost_variants = layout.variant_dir(GHOST) / "_" / "w_10.webp"
    ghost_variants.parent.mkdir(parents=True)
    ghost_variants.write_bytes(b"x")
    shutil.copytree(arc_pyramid, layout.pyramid_dir(GHOST))
    temps = [leftover(layout.originals / "ab" / ".abc.1a2b3c.tmp"),
             leftover(arc_pyramid / ".640.png.9f.tmp"),
             leftover(layout.variant_dir(arc) / "_" / ".w_100.jpg.77.tmp")]
    # Not repairable: a stray file among the originals.
    stray = layout.originals / "zz" / "notes.txt"
    stray.parent.mkdir()
    stray.write_text("hello")

    found = doctor(tmp_path, "--grace", "60")
    assert found.returncode == 1
    out = found.stdout
    assert f"original without an index row: originals/{dune[:2]}/{dune}" in out
    assert f"index row without its original: originals/{storm[:2]}/{storm}" in out
    assert f"missing or broken pyramid level: pyramid/{arc[:2]}/{arc} (1280.png, 640.png)" in out
    assert f"missing or broken pyramid level: pyramid/{logo[:2]}/{logo} (master.png)" in out
    assert f"variants of an image that does not exist: cache/{GHOST[:2]}/{GHOST}" in out
    assert f"pyramid of an image that does not exist: pyramid/{GHOST[:2]}/{GHOST}" in out
    assert out.count("leftover temp file") == 3
    assert "unexpected file among the originals: originals/zz/notes.txt" in out
    assert "problems found: 10" in out

    repaired = doctor(tmp_path, "--repair", "--grace", "60")
    assert repaired.returncode == 1  # the stray file needs a human
    assert "repaired: 9" in repaired.stdout, repaired.stdout
    assert repaired.stdout.split("problems left: 1\n", 1)[-1].strip().startswith(
        "unexpected file among the originals: originals/zz/notes.txt"
    )
    assert rows(layout) == {dune, arc, logo}  # Dune ingested again, Storm's row deleted
    assert not layout.pyramid_dir(storm).exists() and not layout.variant_dir(storm).exists()
    assert not layout.pyramid_dir(GHOST).exists() and not layout.variant_dir(GHOST).exists()
    assert not any(path.exists() for path in temps)
    with Image.open(arc_pyramid / "640.png") as rebuilt, Image.open(
        photo("Arc-Colors-Transparent-Wallpaper.png")
    ) as source:
        assert rebuilt.size == (640, 359)
        expected = numpy.asarray(source.convert("RGBA").resize(rebuilt.size), dtype=float)
        assert numpy.abs(numpy.asarray(rebuilt.convert("RGBA"), dtype=float) - expected).mean() < 4
    with Image.open(layout.pyramid_dir(logo) / "master.png") as master:
        assert master.size == (2048, 1024)

    stray.unlink()
    assert doctor(tmp_path).returncode == 0


def test_a_damaged_original_is_reported_and_never_deleted(
    tmp_path: Path, library: tuple[DataLayout, dict[str, str]]
) -> None:
    layout, ids = library
    original = layout.original(ids["Storm.jpg"])
    data = bytearray(original.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped bit: bit rot
    original.write_bytes(bytes(data))
    orphan = layout.original(samples_id := "f" * 20)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"bytes that do not hash to their name")
    old(orphan)

    result = doctor(tmp_path, "--repair")
    assert result.returncode == 1
    assert (
        f"original is damaged: originals/{ids['Storm.jpg'][:2]}/{ids['Storm.jpg']} "
        "(bytes no longer match the SHA-256)  -> repair: none: restore it from a backup"
    ) in result.stdout
    assert original.read_bytes() == bytes(data)  # still there, for a human to look at
    assert f"moved damaged originals/ff/{samples_id}" in result.stdout
    assert (layout.root / "quarantine" / samples_id).is_file()
    assert not orphan.exists()


def test_writes_in_flight_are_left_alone(
    tmp_path: Path, library: tuple[DataLayout, dict[str, str]]
) -> None:
    """A fresh temp file and a fresh row-less original are what a running upload
    looks like from outside: listed, not problems, not touched."""
    layout, _ = library
    settings = make_settings(layout.root)
    data = samples.solid_png(7)
    with closing(open_database(layout.database)) as connection:
        record = ingest(connection, layout, settings, Upload(data))
        with transaction(connection):
            delete_rows(connection, record.id)
    temp = layout.cache / ".w_1.jpg.123abc.tmp"
    temp.write_bytes(b"half")
    result = doctor(tmp_path, "--repair")
    assert result.returncode == 0, result.stdout
    assert "in flight, left alone (2 recent file(s) being written?)" in result.stdout
    assert temp.exists() and layout.original(record.id).exists()
    assert doctor(tmp_path, "--grace", "0").returncode == 1


def test_doctor_needs_a_data_directory(tmp_path: Path) -> None:
    result = doctor(tmp_path)
    assert result.returncode == 2
    assert "no data directory" in result.stderr


def test_kill_9_during_a_large_folder_ingest_leaves_a_consistent_library(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "import"
    folder.mkdir()
    total = 36
    for index in range(total):
        (folder / f"photo{index:03d}.jpg").write_bytes(samples.noise_jpeg(index))
    database = tmp_path / "data" / "pictor.db"

    def count() -> int:
        if not database.exists():
            return 0
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)) as db:
            try:
                return int(db.execute("SELECT count(*) FROM images").fetchone()[0])
            except sqlite3.OperationalError:
                return 0

    config = write_toml(tmp_path / "pictor.toml", {"server": {"data_dir": str(tmp_path / "data")}})
    for round_ in range(3):  # three kills, each at a different point of the run
        before = count()
        process = subprocess.Popen(
            [sys.executable, "-m", "origin.cli", "ingest", "--config", str(config), str(folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_environment(),
            cwd=tmp_path,
        )
        wanted = before + 3 + round_

        def progressed(wanted: int = wanted, process: subprocess.Popen[bytes] = process) -> bool:
            return count() >= wanted or process.poll() is not None

        wait_for(progressed, "some files to be ingested", timeout=300)
        process.send_signal(signal.SIGKILL)
        process.wait()
        # Straight after the crash: nothing inconsistent (what a write in flight left
        # behind is fresh, so it is listed as in flight, not as a problem) ...
        after_crash = doctor(tmp_path)
        assert after_crash.returncode == 0, after_crash.stdout
        # ... and even counted as problems, it is only what --repair fixes.
        strict = doctor(tmp_path, "--grace", "0")
        allowed = ("leftover temp file", "original without an index row", "checked",
                   "problems found", "run `pictor doctor --repair`", "no problems found")
        assert all(line.strip().startswith(allowed) for line in strict.stdout.splitlines()), (
            strict.stdout
        )
        assert doctor(tmp_path, "--repair", "--grace", "0").returncode == 0
    assert count() < total, "the ingest finished before it could be killed"
    rerun = pictor(tmp_path, "ingest", str(folder))
    assert rerun.returncode == 0
    added, duplicates = (int(part.split()[-1]) for part in rerun.stdout.splitlines()[-1]
                         .replace(", rejected 0", "").split(", "))
    assert added + duplicates == total and added > 0
    assert count() == total
    final = doctor(tmp_path, "--grace", "0")
    assert final.returncode == 0, final.stdout
    assert final.stdout.splitlines()[-1] == "no problems found"

"""``pictor ingest PATH... [--recursive]`` as a user runs it: a real process, a real folder
of mixed files, the summary it prints and its exit code."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.folders import collect, is_candidate
from tests import ingest_samples as samples
from tests.conftest import clean_environment, photo, write_toml


def pictor(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = write_toml(tmp_path / "pictor.toml", {"server": {"data_dir": str(tmp_path / "data")}})
    return subprocess.run(
        [sys.executable, "-m", "origin.cli", "ingest", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=clean_environment(),
        cwd=tmp_path,
        timeout=300,
    )


def image_id(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:20]


def stored_ids(tmp_path: Path) -> set[str]:
    with sqlite3.connect(tmp_path / "data" / "pictor.db") as connection:
        return {row[0] for row in connection.execute("SELECT id FROM images")}


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """Three photos, a copy of one, two bad files, hidden and temporary files, and
    sub-folders (one hidden)."""
    folder = tmp_path / "photos"
    (folder / "2024").mkdir(parents=True)
    (folder / ".thumbnails").mkdir()
    for name in ("Dune.jpg", "Storm.jpg", "Stripes.png"):
        shutil.copy(photo(name), folder / name)
    shutil.copy(photo("Dune.jpg"), folder / "Dune_copy.jpg")
    (folder / "notes.jpg").write_text("not a photo at all\n")
    (folder / "broken.jpg").write_bytes(photo("Storm.jpg").read_bytes()[:20000])
    (folder / ".hidden.jpg").write_bytes(samples.solid_png(1))
    (folder / "upload.jpg.part").write_bytes(samples.solid_png(2))
    (folder / "~lock.png").write_bytes(samples.solid_png(3))
    shutil.copy(photo("LadyBird.jpg"), folder / "2024" / "LadyBird.jpg")
    (folder / ".thumbnails" / "thumb.png").write_bytes(samples.solid_png(4))
    return folder


def test_summary_lists_every_file_and_rejections_make_exit_1(
    tmp_path: Path, mixed_folder: Path
) -> None:
    result = pictor(tmp_path, str(mixed_folder))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "added 3, exact duplicates 1, rejected 2"
    dune_id = image_id(mixed_folder / "Dune.jpg")
    assert f"  added      {mixed_folder / 'Dune.jpg'}  {dune_id}" in lines
    assert f"  duplicate  {mixed_folder / 'Dune_copy.jpg'}  (already stored as {dune_id})" in lines
    rejected = {line for line in lines if line.startswith("  rejected")}
    assert rejected == {
        f"  rejected   {mixed_folder / 'broken.jpg'}: image is corrupt or truncated",
        f"  rejected   {mixed_folder / 'notes.jpg'}: not an image, or an unsupported image format",
    }
    assert not any(name in result.stdout for name in ("hidden", ".part", "~lock", "2024"))
    expected = {image_id(mixed_folder / name) for name in ("Dune.jpg", "Storm.jpg", "Stripes.png")}
    assert stored_ids(tmp_path) == expected


def test_recursive_descends_but_not_into_hidden_folders(
    tmp_path: Path, mixed_folder: Path
) -> None:
    pictor(tmp_path, str(mixed_folder))
    result = pictor(tmp_path, str(mixed_folder), "--recursive")
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == "added 1, exact duplicates 4, rejected 2"
    assert f"added      {mixed_folder / '2024' / 'LadyBird.jpg'}" in result.stdout
    assert "thumbnails" not in result.stdout
    assert image_id(mixed_folder / "2024" / "LadyBird.jpg") in stored_ids(tmp_path)
    assert len(stored_ids(tmp_path)) == 4


def test_only_good_files_exit_0_and_running_again_finds_duplicates(tmp_path: Path) -> None:
    files = [str(photo(name)) for name in ("Dune.jpg", "goldfish.png")]
    first = pictor(tmp_path, *files)
    assert (first.returncode, first.stdout.splitlines()[-1]) == (
        0,
        "added 2, exact duplicates 0, rejected 0",
    )
    again = pictor(tmp_path, *files)
    assert (again.returncode, again.stdout.splitlines()[-1]) == (
        0,
        "added 0, exact duplicates 2, rejected 0",
    )


def test_a_missing_path_is_reported_not_ignored(tmp_path: Path) -> None:
    result = pictor(tmp_path, str(tmp_path / "nowhere.jpg"), str(photo("Dune.jpg")))
    assert result.returncode == 1
    assert f"rejected   {tmp_path / 'nowhere.jpg'}: cannot read: No such file or directory" in (
        result.stdout
    )
    assert result.stdout.splitlines()[-1] == "added 1, exact duplicates 0, rejected 1"


def test_explicitly_named_hidden_file_is_tried(tmp_path: Path) -> None:
    hidden = tmp_path / ".secret.png"
    hidden.write_bytes(samples.solid_png(9))
    result = pictor(tmp_path, str(hidden))
    assert result.returncode == 0
    assert stored_ids(tmp_path) == {image_id(hidden)}


def test_too_large_files_are_rejected_without_reading_them(tmp_path: Path) -> None:
    config = tmp_path / "small.toml"
    write_toml(config, {"server": {"data_dir": str(tmp_path / "data")},
                        "limits": {"max_upload_bytes": 1000}})
    result = subprocess.run(
        [sys.executable, "-m", "origin.cli", "ingest", "--config", str(config),
         str(photo("Dune.jpg"))],
        capture_output=True, text=True, env=clean_environment(), cwd=tmp_path, timeout=120,
    )
    assert result.returncode == 1
    assert "larger than 1000 bytes" in result.stdout


@pytest.mark.parametrize(
    ("name", "candidate"),
    [
        ("photo.jpg", True),
        ("IMG_0001.HEIC", True),
        ("no-extension", True),
        (".hidden.jpg", False),
        (".photo.jpg.3f2a9c.tmp", False),  # Pictor's own temp files
        ("photo.jpg.part", False),
        ("photo.jpg.crdownload", False),
        ("photo.JPG.TMP", False),
        ("~$draft.png", False),
        ("backup.jpg~", False),
        (".DS_Store", False),
    ],
)
def test_candidate_names(name: str, candidate: bool) -> None:
    assert is_candidate(Path(name)) is candidate


def test_collect_sorts_and_keeps_explicit_files(tmp_path: Path) -> None:
    (tmp_path / "b.png").write_bytes(b"x")
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.png").write_bytes(b"x")
    assert collect([tmp_path], recursive=False) == [tmp_path / "a.png", tmp_path / "b.png"]
    assert collect([tmp_path], recursive=True)[-1] == tmp_path / "sub" / "c.png"
    assert collect([tmp_path / "missing.png"], recursive=False) == [tmp_path / "missing.png"]

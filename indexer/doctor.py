"""``pictor doctor``: check that originals, derived files, variants and the index agree,
and (``--repair``) fix what can be fixed without losing anything a user uploaded.

* original without a row (a crash between fsync and commit): ingest it again;
* row without an original: delete the row, its pyramid and its variants;
* variants or pyramid of an image that does not exist: delete them;
* missing or broken pyramid level or rasterised master: rebuild from the original;
* leftover temp file (``.*.tmp``): delete it;
* original whose bytes no longer match its id: with a row, nothing can be done (restore
  it from a backup); without a row, it is moved to ``data/quarantine/``;
* unexpected file among the originals: reported only.

Temp files and row-less originals younger than ``grace`` seconds are probably being
written right now (an upload in flight): they are listed but left alone.  Originals
are verified by their SHA-256 — the bytes that passed validation at ingest, unchanged —
which also proves they still decode, without decoding every photo again.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from PIL import Image

from indexer.catalog import ImageRecord, get_image
from indexer.config import Settings
from indexer.db import transaction
from indexer.decode import DECODE_ERRORS, decode
from indexer.errors import Conflict, PictorError
from indexer.ingest import Upload, ingest, write_derived
from indexer.janitor import is_temp
from indexer.layout import DataLayout, contained, is_image_id
from indexer.masters import master_name, needs_master
from indexer.pyramid import level_name
from indexer.removal import delete_rows, remove_files

DEFAULT_GRACE_SECONDS = 600.0
CHUNK = 1 << 20
TRAILERS = {".jpg": b"\xff\xd9", ".png": b"IEND\xaeB`\x82"}

KINDS = {
    "temp-file": ("leftover temp file", "delete it"),
    "row-without-original": ("index row without its original", "delete the row and its files"),
    "original-without-row": ("original without an index row", "ingest it again"),
    "broken-orphan": ("row-less original that is damaged", "move it to data/quarantine"),
    "orphan-variants": ("variants of an image that does not exist", "delete them"),
    "orphan-pyramid": ("pyramid of an image that does not exist", "delete it"),
    "pyramid": ("missing or broken pyramid level", "rebuild from the original"),
    "broken-original": ("original is damaged", "none: restore it from a backup"),
    "stray-file": ("unexpected file among the originals", "none: look at it"),
}
REPAIR_ORDER = list(KINDS)


@dataclass(frozen=True)
class Problem:
    kind: str
    path: Path
    detail: str = ""
    image_id: str | None = None

    @property
    def repairable(self) -> bool:
        return not KINDS[self.kind][1].startswith("none")


@dataclass
class Findings:
    images: int = 0
    originals: int = 0
    problems: list[Problem] = field(default_factory=list)
    in_flight: list[Path] = field(default_factory=list)


@dataclass
class Report:
    before: Findings
    after: Findings
    repaired: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.after.problems else 0


def check(
    connection: sqlite3.Connection, layout: DataLayout, grace: float = DEFAULT_GRACE_SECONDS
) -> Findings:
    findings = Findings()
    fresh_after = time.time() - grace
    ids = {row[0] for row in connection.execute("SELECT id FROM images")}
    findings.images = len(ids)
    _check_temp_files(layout, fresh_after, findings)
    originals = _check_originals(layout, ids, fresh_after, findings)
    findings.originals = len(originals)
    for image_id in sorted(ids):
        record = get_image(connection, image_id)
        if record is not None:
            _check_image(layout, record, image_id in originals, findings)
    _check_orphan_dirs(layout, ids, originals, findings)
    return findings


def run(
    connection: sqlite3.Connection,
    layout: DataLayout,
    settings: Settings,
    *,
    repair: bool,
    grace: float = DEFAULT_GRACE_SECONDS,
) -> Report:
    before = check(connection, layout, grace)
    if not repair:
        return Report(before, before)
    repaired = []
    for problem in sorted(before.problems, key=lambda p: REPAIR_ORDER.index(p.kind)):
        if problem.repairable:
            repaired.append(_repair(connection, layout, settings, problem))
    return Report(before, check(connection, layout, grace), repaired)


def render(report: Report, layout: DataLayout, repair: bool) -> Iterator[str]:
    """The human-readable report."""
    before = report.before
    yield f"checked {before.images} images and {before.originals} originals in {layout.root}"
    if before.in_flight:
        yield f"in flight, left alone ({len(before.in_flight)} recent file(s) being written?):"
        yield from (f"  {_relative(layout, path)}" for path in before.in_flight)
    if before.problems:
        yield f"problems found: {len(before.problems)}"
        yield from _problem_lines(layout, before.problems)
    if repair and report.repaired:
        yield f"repaired: {len(report.repaired)}"
        yield from (f"  {line}" for line in report.repaired)
    if not report.after.problems:
        yield "no problems" + (" left" if before.problems else " found")
    elif repair:
        yield f"problems left: {len(report.after.problems)}"
        yield from _problem_lines(layout, report.after.problems)
    else:
        yield "run `pictor doctor --repair` to fix what can be fixed"


# -- checks --------------------------------------------------------------------------------


def _check_temp_files(layout: DataLayout, fresh_after: float, findings: Findings) -> None:
    for root in (layout.originals, layout.pyramid, layout.cache):
        for path in sorted(root.rglob(".*")):
            if path.is_file() and is_temp(path.name):
                if _mtime(path) > fresh_after:
                    findings.in_flight.append(path)
                else:
                    findings.problems.append(Problem("temp-file", path))


def _check_originals(
    layout: DataLayout, ids: set[str], fresh_after: float, findings: Findings
) -> set[str]:
    """Ids of the originals on disk; row-less and stray ones become findings."""
    found = set()
    for path in sorted(layout.originals.glob("*/*")):
        name = path.name
        if is_temp(name):
            continue
        if not (path.is_file() and is_image_id(name) and path.parent.name == name[:2]):
            findings.problems.append(Problem("stray-file", path))
            continue
        found.add(name)
        if name in ids:
            continue
        if not _matches_id(path, name):
            findings.problems.append(Problem("broken-orphan", path, "bytes do not match id", name))
        elif _mtime(path) > fresh_after:
            findings.in_flight.append(path)
        else:
            findings.problems.append(Problem("original-without-row", path, image_id=name))
    return found


def _check_image(
    layout: DataLayout, record: ImageRecord, has_original: bool, findings: Findings
) -> None:
    original = layout.original(record.id)
    if not has_original:
        findings.problems.append(Problem("row-without-original", original, image_id=record.id))
        return
    if not _matches_hash(original, record.sha256):
        findings.problems.append(
            Problem("broken-original", original, "bytes no longer match the SHA-256", record.id)
        )
        return
    broken = [name for name, ok in _derived_files(layout, record) if not ok]
    if broken:
        directory = layout.pyramid_dir(record.id)
        findings.problems.append(Problem("pyramid", directory, ", ".join(broken), record.id))


def _check_orphan_dirs(
    layout: DataLayout, ids: set[str], originals: set[str], findings: Findings
) -> None:
    for kind, root in (("orphan-variants", layout.cache), ("orphan-pyramid", layout.pyramid)):
        for path in sorted(root.glob("*/*")):
            name = path.name
            if path.is_dir() and is_image_id(name) and name not in ids and name not in originals:
                findings.problems.append(Problem(kind, path, image_id=name))


def _derived_files(layout: DataLayout, record: ImageRecord) -> Iterator[tuple[str, bool]]:
    """(file name, intact?) for every level and the master the row promises."""
    directory = layout.pyramid_dir(record.id)
    for edge in record.pyramid:
        name = level_name(edge, record.has_alpha)
        yield name, _intact(directory / name, partial(_long_edge_is, edge))
    if needs_master(record.format):
        name = master_name(record.has_alpha)
        expected = (record.width, record.height)
        yield name, _intact(directory / name, lambda size: size == expected)


def _long_edge_is(edge: int, size: tuple[int, int]) -> bool:
    return max(size) == edge


def _intact(path: Path, size_ok: Callable[[tuple[int, int]], bool]) -> bool:
    """Exists, ends with its format's trailer (catches truncation cheaply), and its
    header parses with the expected size."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, path.stat().st_size - 16))
            if not handle.read().endswith(TRAILERS[path.suffix]):
                return False
        with Image.open(path) as level:
            return size_ok(level.size)
    except (*DECODE_ERRORS, KeyError):
        return False


def _matches_id(path: Path, image_id: str) -> bool:
    return _sha256(path).startswith(image_id)


def _matches_hash(path: Path, sha256: str) -> bool:
    return _sha256(path) == sha256


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# -- repairs -------------------------------------------------------------------------------


def _repair(
    connection: sqlite3.Connection, layout: DataLayout, settings: Settings, problem: Problem
) -> str:
    where = _relative(layout, problem.path)
    image_id = problem.image_id or ""
    if problem.kind == "temp-file":
        problem.path.unlink(missing_ok=True)
        return f"deleted temp file {where}"
    if problem.kind == "row-without-original":
        with transaction(connection):
            delete_rows(connection, image_id)
        remove_files(layout, image_id)
        return f"deleted the row of {image_id} (its original was gone)"
    if problem.kind == "original-without-row":
        return _reingest(connection, layout, settings, problem)
    if problem.kind == "broken-orphan":
        return f"moved damaged {where} to {_quarantine(layout, problem.path, image_id)}"
    if problem.kind in ("orphan-variants", "orphan-pyramid"):
        shutil.rmtree(problem.path, ignore_errors=True)
        return f"deleted {where}"
    return _rebuild(connection, layout, settings, image_id)


def _reingest(
    connection: sqlite3.Connection, layout: DataLayout, settings: Settings, problem: Problem
) -> str:
    try:
        record = ingest(connection, layout, settings, Upload(problem.path.read_bytes()))
    except Conflict:  # ingested meanwhile (an upload of the same bytes): nothing to do
        return f"{problem.image_id} was ingested meanwhile"
    except PictorError as error:  # e.g. a format no longer accepted
        target = _quarantine(layout, problem.path, problem.image_id or "")
        return f"could not ingest {problem.image_id} ({error.public}); moved it to {target}"
    return f"ingested {record.id} again from its stored original"


def _rebuild(
    connection: sqlite3.Connection, layout: DataLayout, settings: Settings, image_id: str
) -> str:
    record = get_image(connection, image_id)
    if record is None:  # deleted since the check
        return f"skipped {image_id}: deleted meanwhile"
    decoded = decode(layout.original(image_id).read_bytes(), settings)
    write_derived(decoded, layout.pyramid_dir(image_id), list(record.pyramid))
    return f"rebuilt the pyramid of {image_id}"


def _quarantine(layout: DataLayout, path: Path, image_id: str) -> Path:
    """Move a row-less original out of the way (never delete uploaded bytes), and drop
    whatever was derived from it."""
    target = contained(layout.root, "quarantine", path.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    path.replace(target)
    remove_files(layout, image_id)
    return target


def _problem_lines(layout: DataLayout, problems: list[Problem]) -> Iterator[str]:
    for problem in problems:
        what, repair = KINDS[problem.kind]
        detail = f" ({problem.detail})" if problem.detail else ""
        yield f"  {what}: {_relative(layout, problem.path)}{detail}  -> repair: {repair}"


def _relative(layout: DataLayout, path: Path) -> str:
    return str(path.relative_to(layout.root)) if path.is_relative_to(layout.root) else str(path)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0

"""Folder ingest: find candidate files, ingest each one, and summarise what happened.

Every file is validated by its content, so a folder may hold anything: text files,
sidecars and videos are simply reported as rejected, with the reason.  Hidden files
and folders (``.name``) and the usual temporary names are skipped when walking a
folder, but a file named explicitly on the command line is always tried.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from indexer.config import Settings
from indexer.errors import Conflict, PictorError
from indexer.ingest import Upload, ingest
from indexer.layout import DataLayout

TEMP_PREFIXES = (".", "~")
TEMP_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".swp", "~")

OutcomeKind = Literal["added", "duplicate", "rejected"]


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    path: Path
    detail: str  # the image id (added, duplicate) or the reason (rejected)

    def line(self) -> str:
        if self.kind == "added":
            return f"  added      {self.path}  {self.detail}"
        if self.kind == "duplicate":
            return f"  duplicate  {self.path}  (already stored as {self.detail})"
        return f"  rejected   {self.path}: {self.detail}"


@dataclass
class Summary:
    added: list[tuple[Path, str]] = field(default_factory=list)
    duplicates: list[tuple[Path, str]] = field(default_factory=list)
    rejected: list[tuple[Path, str]] = field(default_factory=list)

    def record(self, outcome: Outcome) -> None:
        {"added": self.added, "duplicate": self.duplicates, "rejected": self.rejected}[
            outcome.kind
        ].append((outcome.path, outcome.detail))

    def totals(self) -> str:
        return (
            f"added {len(self.added)}, exact duplicates {len(self.duplicates)}, "
            f"rejected {len(self.rejected)}"
        )

    def lines(self) -> Iterator[str]:
        """One line per file (added, duplicates, rejected with the reason), then totals."""
        for path, image_id in self.added:
            yield Outcome("added", path, image_id).line()
        for path, image_id in self.duplicates:
            yield Outcome("duplicate", path, image_id).line()
        for path, reason in self.rejected:
            yield Outcome("rejected", path, reason).line()
        yield self.totals()

    @property
    def exit_code(self) -> int:
        """0 when every file is stored (new or duplicate), 1 when any was rejected."""
        return 1 if self.rejected else 0


def is_candidate(path: Path) -> bool:
    """Skip hidden and temporary files (editors, partial copies, our own temp files)."""
    name = path.name
    return not (name.startswith(TEMP_PREFIXES) or name.lower().endswith(TEMP_SUFFIXES))


def walk(folder: Path, recursive: bool) -> Iterator[Path]:
    """Candidate files in a folder, sorted, never descending into hidden folders."""
    for entry in sorted(folder.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            if recursive and is_candidate(entry):
                yield from walk(entry, recursive)
        elif entry.is_file() and is_candidate(entry):
            yield entry


def collect(paths: Iterable[Path], recursive: bool) -> list[Path]:
    """Files to ingest.  A path that does not exist is kept, so it is reported."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(walk(path, recursive))
        else:
            files.append(path)
    return files


def ingest_file(
    connection: sqlite3.Connection, layout: DataLayout, settings: Settings, path: Path
) -> Outcome:
    try:
        size = path.stat().st_size
        if size > settings.limits.max_upload_bytes:
            return Outcome(
                "rejected", path, f"larger than {settings.limits.max_upload_bytes} bytes"
            )
        record = ingest(connection, layout, settings, Upload(path.read_bytes(), path.name))
    except Conflict as conflict:
        return Outcome("duplicate", path, conflict.existing_id)
    except PictorError as error:
        return Outcome("rejected", path, error.public)
    except OSError as error:
        return Outcome("rejected", path, f"cannot read: {error.strerror or error}")
    return Outcome("added", path, record.id)


def ingest_files(
    connection: sqlite3.Connection,
    layout: DataLayout,
    settings: Settings,
    files: Iterable[Path],
    progress: Callable[[Path], object] = lambda path: None,
) -> Summary:
    summary = Summary()
    for path in files:
        summary.record(ingest_file(connection, layout, settings, path))
        progress(path)
    return summary

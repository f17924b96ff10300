"""Folder ingest: walk paths, ingest each file, collect a summary."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from indexer.config import Settings
from indexer.errors import Conflict, PictorError
from indexer.ingest import Upload, ingest
from indexer.layout import DataLayout


@dataclass
class Summary:
    added: list[tuple[Path, str]] = field(default_factory=list)
    duplicates: list[tuple[Path, str]] = field(default_factory=list)
    rejected: list[tuple[Path, str]] = field(default_factory=list)

    def lines(self) -> Iterator[str]:
        yield (
            f"added {len(self.added)}, exact duplicates {len(self.duplicates)}, "
            f"rejected {len(self.rejected)}"
        )
        for path, image_id in self.duplicates:
            yield f"  duplicate  {path}  (already stored as {image_id})"
        for path, reason in self.rejected:
            yield f"  rejected   {path}: {reason}"


def is_candidate(path: Path) -> bool:
    """Skip hidden and temporary files (editors, partial copies, our own temp files)."""
    name = path.name
    return not (
        name.startswith(".")
        or name.startswith("~")
        or name.endswith((".tmp", ".part", ".crdownload", ".swp"))
    )


def collect(paths: Iterable[Path], recursive: bool) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            pattern = path.rglob("*") if recursive else path.glob("*")
            files.extend(sorted(p for p in pattern if p.is_file() and is_candidate(p)))
        elif path.is_file():
            files.append(path)
    return files


def ingest_files(
    connection: sqlite3.Connection,
    layout: DataLayout,
    settings: Settings,
    files: Iterable[Path],
    progress: Callable[[Path], object] = lambda path: None,
) -> Summary:
    summary = Summary()
    for path in files:
        try:
            record = ingest(
                connection, layout, settings, Upload(data=path.read_bytes(), filename=path.name)
            )
            summary.added.append((path, record.id))
        except Conflict as conflict:
            summary.duplicates.append((path, conflict.existing_id))
        except PictorError as error:
            summary.rejected.append((path, error.public))
        except OSError as error:
            summary.rejected.append((path, f"cannot read: {error.strerror}"))
        progress(path)
    return summary

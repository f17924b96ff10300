"""Ingest folders on startup and keep ingesting files as they appear (watchfiles).

A file is ingested only once it has *settled*: its size and modification time have
stayed the same for ``ingest.settle_seconds``, so a photo that is still being copied
is never read half-written.  Hidden and temporary files and folders are ignored (see
:func:`indexer.folders.is_candidate`); a finished ``.part``/``.tmp`` file renamed to its
real name shows up as a new file and is ingested then.

Bursts: events are only hints.  Every changed path goes into a pending table keyed
by path (a burst of thousands of events costs one ``stat`` per file per tick), a new
directory is walked (a folder moved in arrives as one event), and the folders are
rescanned periodically, so a missed or overflowed event delays a file but never
loses it.  A file is ingested again only when its size or mtime change.

Run as ``python -m indexer.watch [--watch] FOLDER...`` (``pictor serve --ingest``
starts it as a child process) or through ``pictor ingest --watch``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sqlite3
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import watchfiles

from indexer.config import ConfigError, Settings, load_settings
from indexer.db import open_database
from indexer.folders import Outcome, Summary, collect, ingest_file, is_candidate
from indexer.layout import DataLayout

log = logging.getLogger("pictor.watch")
Signature = tuple[int, int]  # (size, mtime in ns): what "the file changed" means here
Report = Callable[[str], None]
RESCAN_SECONDS = 30.0
TICK_MS = 200


def signature(path: Path) -> Signature | None:
    """Size and mtime of a regular file; None for anything else or a vanished path."""
    try:
        info = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return (info.st_size, info.st_mtime_ns)


@dataclass
class Settler:
    """Which files have stopped changing.  Pure bookkeeping; time and ``stat`` are
    passed in, so the rules are tested without waiting."""

    settle_seconds: float
    pending: dict[Path, tuple[Signature, float]] = field(default_factory=dict)
    done: dict[Path, Signature] = field(default_factory=dict)

    def observe(self, path: Path, seen: Signature | None, now: float) -> None:
        if seen is None or self.done.get(path) == seen:
            return
        current = self.pending.get(path)
        if current is None or current[0] != seen:
            self.pending[path] = (seen, now)  # new, or changed: the clock starts again

    def ready(self, now: float, stat_of: Callable[[Path], Signature | None]) -> list[Path]:
        settled = []
        for path, (seen, since) in list(self.pending.items()):
            current = stat_of(path)
            if current is None:
                del self.pending[path]
            elif current != seen:
                self.pending[path] = (current, now)
            elif now - since >= self.settle_seconds:
                settled.append(path)
        return sorted(settled)

    def finish(self, path: Path, seen: Signature | None) -> None:
        self.pending.pop(path, None)
        if seen is not None:
            self.done[path] = seen


class FolderWatcher:
    def __init__(
        self,
        connection: sqlite3.Connection,
        layout: DataLayout,
        settings: Settings,
        folders: Sequence[Path],
        *,
        recursive: bool = True,
        report: Report = print,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connection, self.layout, self.settings = connection, layout, settings
        self.folders = [folder.resolve() for folder in folders]
        self.recursive = recursive
        self.report = report
        self.clock = clock
        self.settler = Settler(settings.ingest.settle_seconds)

    def ingest_existing(
        self, stop: threading.Event, progress: Callable[[Path], object] = lambda path: None
    ) -> Summary:
        """Ingest what is in the folders now (no settling: a one-shot run)."""
        summary = Summary()
        for path in collect(self.folders, self.recursive):
            if stop.is_set():
                break
            summary.record(self._ingest(path))
            progress(path)
        return summary

    def watch(self, stop: threading.Event) -> None:
        """Ingest new and changed files until ``stop`` is set."""
        next_rescan = 0.0  # at once: covers files created before the watcher started
        for changes in watchfiles.watch(
            *self.folders,
            watch_filter=self.wanted,
            stop_event=stop,
            yield_on_timeout=True,
            rust_timeout=TICK_MS,
            recursive=self.recursive,
            raise_interrupt=False,
        ):
            now = self.clock()
            self._observe(Path(name) for kind, name in changes if kind != watchfiles.Change.deleted)
            if now >= next_rescan:
                self._observe(collect(self.folders, self.recursive))
                next_rescan = now + RESCAN_SECONDS
            for path in self.settler.ready(self.clock(), signature):
                if stop.is_set():
                    return
                self.report("watch:" + self._ingest(path).line()[1:])

    def wanted(self, change: watchfiles.Change, name: str) -> bool:
        """No hidden or temporary file, nor anything inside a hidden folder."""
        path = Path(name)
        for folder in self.folders:
            if path.is_relative_to(folder):
                return all(is_candidate(Path(part)) for part in path.relative_to(folder).parts)
        return False

    def _observe(self, paths: Iterable[Path]) -> None:
        now = self.clock()
        for path in paths:
            if path.is_dir():  # a folder moved in arrives as a single event
                if self.recursive:
                    self._observe(collect([path], recursive=True))
            else:
                self.settler.observe(path, signature(path), now)

    def _ingest(self, path: Path) -> Outcome:
        seen = signature(path)
        try:
            outcome = ingest_file(self.connection, self.layout, self.settings, path)
        except Exception as error:  # one bad file must not stop the watcher
            log.exception("ingesting %s failed", path)
            outcome = Outcome("rejected", path, f"internal error: {error!r}")
        self.settler.finish(path, seen)
        return outcome


def run(
    settings: Settings,
    folders: Sequence[Path],
    *,
    watch: bool,
    recursive: bool = True,
    stop: threading.Event | None = None,
    report: Report = print,
    progress: Callable[[Path], object] = lambda path: None,
) -> Summary:
    """Ingest the folders once, print the summary, then (``watch``) keep watching."""
    stop = stop or threading.Event()
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    with closing(open_database(layout.database)) as connection:
        watcher = FolderWatcher(
            connection, layout, settings, folders, recursive=recursive, report=report
        )
        summary = watcher.ingest_existing(stop, progress)
        for line in summary.lines():
            report(line)
        if watch and not stop.is_set():
            report("watching " + ", ".join(str(folder) for folder in watcher.folders))
            watcher.watch(stop)
    return summary


def stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """The child process of ``pictor serve --ingest DIR [--watch]``; settings come from
    the environment the server hands down (PICTOR_CONFIG, PICTOR_SERVER_DATA_DIR)."""
    parser = argparse.ArgumentParser(prog="python -m indexer.watch")
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--watch", action="store_true")
    args = parser.parse_args(argv)
    missing = [str(folder) for folder in args.folders if not folder.is_dir()]
    if missing:
        print(f"pictor ingest: not a folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        settings = load_settings(os.environ.get("PICTOR_CONFIG"))
    except ConfigError as error:
        print(f"pictor ingest: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()
    stop_on_signals(stop)
    run(settings, args.folders, watch=args.watch, stop=stop, report=_print_flushed)
    return 0


def _print_flushed(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())

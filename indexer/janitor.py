"""Cache reclamation: keep ``data/cache`` under ``cache.max_bytes``.

Watermarks: nothing happens while the cache holds at most ``max_bytes`` (the high
watermark); once it holds more, the least recently used variants are removed until it
holds at most ``low_watermark * max_bytes``, so the janitor works in batches instead
of trimming one file per new render.  A budget of 0 keeps nothing.

"Recently used" is the file's access time (``max(atime, mtime)``).  Hits are served by
Nginx with ``sendfile``, which never passes through Python, so the origin cannot touch
files on hits; the kernel's atime is the only record every reader updates for free.
Its precision depends on the mount: ``strictatime`` is exact; ``relatime`` (the Linux
default, and this machine's) refreshes atime on the first read after a write and then
at most once per 24 hours, which still separates files used today from files unused
for days — the distinction a cache budget is about; ``noatime`` never refreshes it, and
the order degrades to oldest-rendered first.  Reading the access log instead would
cost a parse of every hit and break with log rotation.

Safety rules: temp files (``.*.tmp``, see :mod:`indexer.atomic`) are never counted or
evicted while they may still be written; one older than :data:`TEMP_GRACE_SECONDS` was
left by a crashed writer (a variant is written in one call within milliseconds) and is
removed, as are all of them when ``pictor serve`` starts, before any writer exists.
Symbolic links are neither followed nor removed, and every path is re-checked with
:func:`indexer.layout.contained` before it is unlinked.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import Counter, Gauge

from indexer.atomic import TEMP_SUFFIX
from indexer.config import CacheSettings
from indexer.errors import BadRequest
from indexer.layout import DataLayout, PathEscape, contained

log = logging.getLogger("pictor.janitor")
TEMP_GRACE_SECONDS = 600.0

# Under `pictor serve` the janitor child inherits PROMETHEUS_MULTIPROC_DIR, so these land
# on the origin's /metrics next to the workers' own metrics.
EVICTED_FILES = Counter("pictor_cache_evicted_files_total", "Variants removed by the janitor")
EVICTED_BYTES = Counter("pictor_cache_evicted_bytes_total", "Bytes of evicted variants")
TEMP_REMOVED = Counter("pictor_cache_temp_removed_total", "Stale temp files removed")
LAST_PASS = Gauge(
    "pictor_janitor_last_pass_timestamp_seconds", "When the janitor last finished a pass",
    multiprocess_mode="max",
)
# A variant written this recently is never evicted: the origin serves a fresh render from
# the file it just wrote, and taking it away in between would fail that request.
FRESH_SECONDS = 60.0


@dataclass(frozen=True)
class CacheFile:
    path: Path
    size: int
    last_used: float
    written: float = 0.0


@dataclass(frozen=True)
class CacheUsage:
    files: int
    bytes: int


@dataclass
class Removal:
    files: int = 0
    bytes: int = 0

    def add(self, size: int) -> None:
        self.files += 1
        self.bytes += size


@dataclass
class GcReport:
    before: CacheUsage
    evicted: Removal = field(default_factory=Removal)
    temp_removed: Removal = field(default_factory=Removal)
    dirs_removed: int = 0

    @property
    def after(self) -> CacheUsage:
        return CacheUsage(
            self.before.files - self.evicted.files, self.before.bytes - self.evicted.bytes
        )


def is_temp(name: str) -> bool:
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def walk(root: Path) -> Iterator[os.DirEntry[str]]:
    """Every regular file below ``root``, without following symbolic links."""
    try:
        entries = list(os.scandir(root))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from walk(Path(entry.path))
        elif entry.is_file(follow_symlinks=False):
            yield entry


def scan(root: Path) -> tuple[list[CacheFile], list[CacheFile]]:
    """(variants, temp files) below ``root``; files vanishing meanwhile are skipped."""
    variants: list[CacheFile] = []
    temps: list[CacheFile] = []
    for entry in walk(root):
        try:
            stat = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        item = CacheFile(
            Path(entry.path), stat.st_size, max(stat.st_atime, stat.st_mtime), stat.st_mtime
        )
        (temps if is_temp(entry.name) else variants).append(item)
    return variants, temps


def survey(root: Path) -> tuple[CacheUsage, list[CacheFile]]:
    """Variant files and bytes below ``root``, and the temp files: :func:`scan` without
    a record per variant (about twice as fast; most janitor passes and every
    ``/metrics`` scrape need no more)."""
    files = size = 0
    temps: list[CacheFile] = []
    pending = [str(root)]
    while pending:
        try:
            entries = os.scandir(pending.pop())
        except (FileNotFoundError, NotADirectoryError):
            continue
        with entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    try:
                        stat = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if is_temp(entry.name):
                        temps.append(CacheFile(Path(entry.path), stat.st_size, stat.st_mtime))
                    else:
                        files, size = files + 1, size + stat.st_size
    return CacheUsage(files, size), temps


def cache_usage(root: Path) -> CacheUsage:
    return survey(root)[0]


def plan_eviction(
    files: list[CacheFile], budget: int, low_watermark: float, fresh_since: float = float("inf")
) -> list[CacheFile]:
    """The files to remove, least recently used first (ties: path order); files written
    at or after ``fresh_since`` are kept whatever the budget says."""
    total = sum(item.size for item in files)
    if total <= budget:
        return []
    target = int(budget * low_watermark)
    chosen = []
    for item in sorted(files, key=lambda f: (f.last_used, str(f.path))):
        if total <= target:
            break
        if item.written >= fresh_since:
            continue
        chosen.append(item)
        total -= item.size
    return chosen


def stale_temps(temps: list[CacheFile], now: float, grace: float) -> list[CacheFile]:
    return [item for item in temps if now - item.last_used >= grace]


def remove(root: Path, item: CacheFile, tally: Removal) -> None:
    """Unlink ``item`` if it is (still) inside ``root``; a file gone already is fine."""
    path = contained(root, os.path.relpath(item.path, root))
    try:
        path.unlink()
    except FileNotFoundError:
        return
    tally.add(item.size)


def prune_empty_dirs(root: Path, now: float, grace: float) -> int:
    """Remove empty directories that were idle for ``grace`` seconds, deepest first.

    A renderer creates a variant's directory just before writing into it, which sets its
    mtime, so a directory in use is never idle.  Idleness is judged before anything is
    removed (removing a child updates its parent's mtime), and ``rmdir`` itself refuses
    a directory that is not empty.
    """
    idle = []
    for directory, _, _ in os.walk(root):
        path = Path(directory)
        try:
            if path != root and now - path.stat().st_mtime >= grace:
                idle.append(path)
        except FileNotFoundError:
            continue
    removed = 0
    for path in sorted(idle, key=lambda p: len(p.parts), reverse=True):
        try:
            path.rmdir()
        except OSError:
            continue  # not empty (in use, or holds variants), or gone already
        removed += 1
    return removed


def collect_garbage(
    layout: DataLayout, cache: CacheSettings, *, grace: float = TEMP_GRACE_SECONDS
) -> GcReport:
    """One janitor pass: stale temp files, then LRU eviction down to the low watermark."""
    now = time.time()
    usage, temps = survey(layout.cache)
    report = GcReport(usage)
    for item in stale_temps(temps, now, grace):
        remove(layout.cache, item, report.temp_removed)
    if usage.bytes > cache.max_bytes:  # only then is a record per variant worth its cost
        variants, _ = scan(layout.cache)
        fresh_since = now - FRESH_SECONDS
        for item in plan_eviction(variants, cache.max_bytes, cache.low_watermark, fresh_since):
            remove(layout.cache, item, report.evicted)
    report.dirs_removed = prune_empty_dirs(layout.cache, now, grace)
    EVICTED_FILES.inc(report.evicted.files)
    EVICTED_BYTES.inc(report.evicted.bytes)
    TEMP_REMOVED.inc(report.temp_removed.files)
    LAST_PASS.set(time.time())
    return report


def remove_temp_files(layout: DataLayout) -> Removal:
    """Every temp file in the cache: only call this while no renderer runs."""
    removed = Removal()
    _, temps = survey(layout.cache)
    for item in temps:
        remove(layout.cache, item, removed)
    if removed.files:
        log.info("removed %d temp file(s) left by an earlier crash", removed.files)
    return removed


def purge(layout: DataLayout, image_id: str | None = None) -> Removal:
    """Remove every variant (of one image, or all); temp files being written stay."""
    try:
        root = layout.variant_dir(image_id) if image_id else layout.cache
    except PathEscape:
        raise BadRequest(f"not an image id: {image_id!r}") from None
    removed = Removal()
    variants, _ = scan(root)
    for item in variants:
        remove(layout.cache, item, removed)
    return removed


def run_forever(layout: DataLayout, cache: CacheSettings, interval: float) -> None:
    """The janitor loop of ``pictor serve``: a pass every ``interval`` seconds.

    A failing pass (a disk error) is logged and retried next time, so the janitor never
    takes the server down with it.
    """
    while True:
        try:
            report = collect_garbage(layout, cache)
        except OSError as error:
            log.warning("cache janitor pass failed: %s", error)
        else:
            log_report(report)
        time.sleep(interval)


def log_report(report: GcReport) -> None:
    if report.evicted.files or report.temp_removed.files:
        log.info(
            "cache janitor: evicted %d variant(s), %d bytes; removed %d stale temp file(s); "
            "cache now %d files, %d bytes",
            report.evicted.files, report.evicted.bytes, report.temp_removed.files,
            report.after.files, report.after.bytes,
        )
    else:
        log.debug("cache janitor: %d files, %d bytes", report.before.files, report.before.bytes)


class FreeSpaceGuard:
    """Decides whether a rendered variant may be written, and logs when that changes.

    Below ``cache.min_free_bytes`` free, variants are still rendered and served but not
    written, so a full disk never turns into failed requests.
    """

    def __init__(self) -> None:
        self.low = False

    def room_for_variants(self, path: Path, min_free: int) -> bool:
        free = shutil.disk_usage(path).free
        low = free < min_free
        if low != self.low:
            self.low = low
            if low:
                log.warning(
                    "free disk %d bytes is below cache.min_free_bytes %d: variants are "
                    "rendered but not written until space is freed", free, min_free,
                )
            else:
                log.info("free disk back to %d bytes: writing variants again", free)
        return not low

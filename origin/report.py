"""``pictor report``: errors and likely abuse, read from Nginx's JSON access log.

The log format is ``pictor_json`` in ``nginx/pictor.conf.j2``: one JSON object per
line with ``time`` (ISO 8601), ``client``, ``method``, ``uri``, ``status``, ``bytes``,
``request_time``, ``upstream_time`` (``""`` or ``"-"`` when Nginx answered alone, a
comma list when it retried), ``referer``, ``user_agent``, ``cache`` (the ``X-Cache``
header) and ``request_id``.

Entries are aggregated in one streaming pass, so a long log costs time, not memory
(except the distinct missed URLs kept per client for the cache-busting check).  Nginx
writes lines in time order, so ``--since`` seeks to the first line of the window by
binary search instead of reading the whole file.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

WATCHED_STATUSES = (403, 404, 429)
DURATION = re.compile(r"(\d+)([smhdw])")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``1h30m``, ``2d``, ``1w`` → a timedelta; anything else is an error."""
    parts = DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r}: use e.g. 30m, 1h, 1h30m, 2d")
    return timedelta(seconds=sum(int(n) * UNITS[u] for n, u in parts))


@dataclass(frozen=True)
class LogEntry:
    time: datetime
    client: str
    method: str
    uri: str
    status: int
    request_time: float
    upstream_time: float | None  # None: Nginx answered without the origin
    referer: str
    cache: str
    request_id: str

    @property
    def reached_origin(self) -> bool:
        return self.upstream_time is not None


def parse_upstream_time(text: str) -> float | None:
    """``"0.120"`` → 0.12; ``"0.002, 0.118"`` (retries) → their sum; ``""``/``"-"`` → None."""
    values = [part.strip() for part in text.replace(":", ",").split(",")]
    numbers = [float(v) for v in values if v and v != "-"]
    return sum(numbers) if numbers else None


def parse_line(line: str) -> LogEntry | None:
    """One access-log line, or None when it is not a pictor_json entry."""
    try:
        raw = json.loads(line)
        return LogEntry(
            time=aware(datetime.fromisoformat(raw["time"])),
            client=str(raw.get("client", "")),
            method=str(raw.get("method", "")),
            uri=str(raw.get("uri", "")),
            status=int(raw["status"]),
            request_time=float(raw.get("request_time") or 0),
            upstream_time=parse_upstream_time(str(raw.get("upstream_time", ""))),
            referer=str(raw.get("referer", "")),
            cache=str(raw.get("cache") or ("HIT" if raw.get("hit") is True else "")),
            request_id=str(raw.get("request_id", "")),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def aware(when: datetime) -> datetime:
    """Nginx writes an offset; a line without one is taken as UTC, never compared naive."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def line_time(line: bytes) -> datetime | None:
    entry = parse_line(line.decode("utf-8", errors="replace"))
    return entry.time if entry else None


def seek_to(handle: IO[bytes], since: datetime) -> None:
    """Position ``handle`` at (or a little before) the first line at or after ``since``."""
    handle.seek(0, 2)
    low, high = 0, handle.tell()
    while high - low > 4096:
        middle = (low + high) // 2
        handle.seek(middle)
        handle.readline()  # skip the partial line we landed in
        when = next((t for t in iter_times(handle)), None)
        if when is None or when >= since:
            high = middle
        else:
            low = middle
    handle.seek(low)
    if low:
        handle.readline()


def iter_times(handle: IO[bytes], tries: int = 20) -> Iterator[datetime]:
    """The time of the next readable line (unreadable ones are skipped, a few at most)."""
    for _ in range(tries):
        line = handle.readline()
        if not line:
            return
        when = line_time(line)
        if when is not None:
            yield when
            return


@dataclass
class Slow:
    seconds: float
    uri: str
    status: int
    client: str
    request_id: str


@dataclass
class Aggregate:
    storm_threshold: int
    top: int
    requests: int = 0
    unreadable: int = 0
    first: datetime | None = None
    last: datetime | None = None
    statuses: Counter[int] = field(default_factory=Counter)
    cache: Counter[str] = field(default_factory=Counter)
    by_status_client: dict[int, Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    referers: Counter[str] = field(default_factory=Counter)
    missed_uris: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    slowest: list[Slow] = field(default_factory=list)

    def add(self, entry: LogEntry) -> None:
        self.requests += 1
        self.first = self.first or entry.time
        self.last = entry.time
        self.statuses[entry.status] += 1
        if entry.cache in ("HIT", "MISS") and entry.status < 400:  # Nginx tags refusals too
            self.cache[entry.cache] += 1
        if entry.status in WATCHED_STATUSES:
            self.by_status_client[entry.status][entry.client] += 1
        if entry.referer and entry.referer != "-":
            self.referers[entry.referer] += 1
        if entry.uri.startswith("/img/") and entry.reached_origin and entry.cache != "HIT":
            self.missed_uris[entry.client].add(entry.uri)
        if entry.cache == "MISS" and entry.upstream_time is not None:
            self._keep_slow(entry, entry.upstream_time)

    def _keep_slow(self, entry: LogEntry, seconds: float) -> None:
        if self.top <= 0 or (
            len(self.slowest) >= self.top and seconds <= self.slowest[-1].seconds
        ):
            return
        self.slowest.append(Slow(seconds, entry.uri, entry.status, entry.client,
                                 entry.request_id))
        self.slowest.sort(key=lambda slow: -slow.seconds)
        del self.slowest[self.top:]

    def summary(self) -> dict[str, Any]:
        classes = Counter(f"{status // 100}xx" for status in self.statuses.elements())
        total = self.requests or 1
        storms = sorted(
            ((client, len(uris)) for client, uris in self.missed_uris.items()
             if len(uris) >= self.storm_threshold),
            key=lambda pair: (-pair[1], pair[0]),
        )
        hits, misses = self.cache["HIT"], self.cache["MISS"]
        return {
            "from": self.first.isoformat() if self.first else None,
            "to": self.last.isoformat() if self.last else None,
            "requests": self.requests,
            "unreadable_lines": self.unreadable,
            "status_classes": {name: classes[name] for name in sorted(classes)},
            "statuses": {str(status): n for status, n in sorted(self.statuses.items())},
            "error_rate_4xx": round(classes["4xx"] / total, 4),
            "error_rate_5xx": round(classes["5xx"] / total, 4),
            "cache_hits": hits,
            "cache_misses": misses,
            "hit_ratio": round(hits / (hits + misses), 4) if hits + misses else None,
            "top_clients": {
                str(status): self.by_status_client[status].most_common(self.top)
                for status in WATCHED_STATUSES
            },
            "top_referers": self.referers.most_common(self.top),
            "cache_busting": [
                {"client": client, "distinct_misses": count} for client, count in storms
            ][: self.top],
            "slowest_renders": [vars(slow) for slow in self.slowest],
        }


def read_lines(paths: Iterable[Path], since: datetime | None) -> Iterator[str]:
    for path in paths:
        if not path.is_file():
            continue
        with open(path, "rb") as handle:
            if since is not None:
                seek_to(handle, since)
            for line in handle:
                yield line.decode("utf-8", errors="replace")


def build_report(
    paths: Iterable[Path],
    *,
    since: datetime | None = None,
    storm_threshold: int = 50,
    top: int = 10,
) -> dict[str, Any]:
    aggregate = Aggregate(storm_threshold=storm_threshold, top=top)
    for line in read_lines(paths, since):
        if not line.strip():
            continue
        entry = parse_line(line)
        if entry is None:
            aggregate.unreadable += 1
        elif since is None or entry.time >= since:
            aggregate.add(entry)
    return aggregate.summary()


def recent_cache_ratio(path: Path, tail_bytes: int = 1 << 20) -> dict[str, Any] | None:
    """Hits and renders among the last ``tail_bytes`` of the access log (a few thousand
    requests, read in milliseconds), or None without a log (embedded mode)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            start = max(0, handle.tell() - tail_bytes)
            handle.seek(start)
            if start:
                handle.readline()  # a partial line
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return None
    aggregate = Aggregate(storm_threshold=0, top=0)
    for line in lines:
        if (entry := parse_line(line)) is not None:
            aggregate.add(entry)
    summary = aggregate.summary()
    return {key: summary[key] for key in ("requests", "cache_hits", "cache_misses", "hit_ratio")}


def since_now(duration: str | None, now: datetime | None = None) -> datetime | None:
    if duration is None:
        return None
    return (now or datetime.now(UTC)) - parse_duration(duration)


def default_logs(logs_dir: Path) -> list[Path]:
    """The rotated log first (older lines), then the current one."""
    return [logs_dir / "access.log.1", logs_dir / "access.log"]


def format_table(summary: dict[str, Any]) -> str:
    """The report as readable text: one block per question an operator asks."""
    if not summary["requests"]:
        return "no requests in the access log for this period\n"
    total = summary["requests"]
    lines = [
        f"Period   {summary['from']}  ->  {summary['to']}",
        f"Requests {total}" + (f"  ({summary['unreadable_lines']} unreadable lines skipped)"
                               if summary["unreadable_lines"] else ""),
        "",
        *_rows(["status", "requests", "share"],
               [[name, n, _percent(n, total)] for name, n in summary["status_classes"].items()]),
        "",
        f"Cache    {summary['cache_hits']} hits, {summary['cache_misses']} renders"
        + (f", hit ratio {summary['hit_ratio']:.1%}" if summary["hit_ratio"] is not None else ""),
    ]
    for status, clients in summary["top_clients"].items():
        if clients:
            lines += ["", f"Top clients by {status}", *_rows(["client", "requests"], clients)]
    if summary["top_referers"]:
        lines += ["", "Top referers", *_rows(["referer", "requests"], summary["top_referers"])]
    if summary["cache_busting"]:
        rows = [[item["client"], item["distinct_misses"]] for item in summary["cache_busting"]]
        lines += ["", "Likely cache-busting (many distinct misses)",
                  *_rows(["client", "distinct misses"], rows)]
    if summary["slowest_renders"]:
        rows = [[f"{slow['seconds']:.3f}", slow["status"], slow["client"], slow["request_id"],
                 slow["uri"]] for slow in summary["slowest_renders"]]
        lines += ["", "Slowest renders",
                  *_rows(["seconds", "status", "client", "request id", "uri"], rows)]
    return "\n".join(lines) + "\n"


def _percent(part: int, whole: int) -> str:
    return f"{part / whole:.1%}"


def _rows(header: list[str], rows: Iterable[Iterable[object]]) -> list[str]:
    table = [header, *([str(cell) for cell in row] for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            .rstrip() for row in table]

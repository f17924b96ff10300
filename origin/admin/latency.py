"""Render latency percentiles for the Status page, from Nginx's access log.

A miss's ``upstream_time`` is how long the origin took to render and send the variant,
measured by Nginx; the log lines are read with the report module's own parser
(:mod:`origin.report`), over the same period as the rest of the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from origin.report import parse_line, read_lines

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class Latency:
    renders: int
    seconds: dict[int, float]  # percentile -> seconds


def percentile(ordered: list[float], share: int) -> float:
    """Nearest-rank percentile of an ascending list (no interpolation: every value
    shown is a render that really took that long)."""
    rank = max(1, -(-share * len(ordered) // 100))  # ceil(share / 100 * n)
    return ordered[rank - 1]


def render_latency(logs: list[Path], since: datetime | None) -> Latency | None:
    """Percentiles of the renders (cache misses) logged since ``since``; None if none."""
    times: list[float] = []
    for line in read_lines(logs, since):
        entry = parse_line(line)
        if entry is None or entry.cache != "MISS" or entry.upstream_time is None:
            continue
        if since is None or entry.time >= since:
            times.append(entry.upstream_time)
    if not times:
        return None
    times.sort()
    return Latency(len(times), {share: percentile(times, share) for share in PERCENTILES})

"""Operator commands: ``pictor cache stats | purge [ID] | gc`` and ``pictor report``.

``add_parsers`` declares their arguments (called from :func:`origin.cli.build_parser`);
the handlers are thin: the work is in :mod:`indexer.janitor` and :mod:`origin.report`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from indexer.config import Settings
from indexer.janitor import GcReport, collect_garbage, log_report, purge, run_forever, scan
from indexer.layout import DataLayout
from origin import report as access_report
from origin.cli import command
from origin.logs import configure_logging


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    report = sub.add_parser(
        "report", parents=[common], help="errors and likely abuse, from the access log"
    )
    report.add_argument("--since", metavar="DURATION", help="only the last 30m, 1h, 2d, 1h30m…")
    report.add_argument("--json", action="store_true", help="print JSON instead of tables")
    report.add_argument("--top", type=int, default=10, metavar="N", help="rows per table (10)")
    report.add_argument(
        "--storm", type=int, default=50, metavar="N",
        help="distinct misses that flag a client as cache-busting (50)",
    )
    report.add_argument(
        "--log", metavar="FILE", action="append",
        help="access log to read; repeatable (default data/logs/access.log.1 and access.log)",
    )

    cache = sub.add_parser("cache", parents=[common], help="the variant cache: stats, purge, gc")
    actions = cache.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    stats = actions.add_parser("stats", parents=[common], help="files, bytes, budget, free disk")
    stats.add_argument("--json", action="store_true", help="print JSON")
    purge_parser = actions.add_parser(
        "purge", parents=[common], help="remove every variant, or only those of image ID"
    )
    purge_parser.add_argument("image_id", nargs="?", metavar="ID")
    gc = actions.add_parser(
        "gc", parents=[common],
        help="remove stale temp files, then least recently used variants if over budget",
    )
    gc.add_argument(
        "--every", type=float, metavar="SECONDS", help="repeat forever (pictor serve does this)"
    )


@command("report")
def report(args: argparse.Namespace, settings: Settings) -> int:
    try:
        since = access_report.since_now(args.since)
    except ValueError as error:
        print(f"pictor: --since: {error}", file=sys.stderr)
        return 2
    logs = [Path(p) for p in args.log] if args.log else access_report.default_logs(
        DataLayout.at(settings.data_dir).logs
    )
    if not any(path.is_file() for path in logs):
        print(f"pictor: no access log at {', '.join(map(str, logs))}", file=sys.stderr)
        return 1
    summary = access_report.build_report(
        logs, since=since, storm_threshold=args.storm, top=args.top
    )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        sys.stdout.write(access_report.format_table(summary))
    return 0


@command("cache")
def cache(args: argparse.Namespace, settings: Settings) -> int:
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    if args.cache_command == "stats":
        return cache_stats(layout, settings, as_json=args.json)
    if args.cache_command == "purge":
        removed = purge(layout, args.image_id)
        scope = f"of {args.image_id}" if args.image_id else "in the cache"
        print(f"removed {removed.files} variant(s) {scope}, {human_bytes(removed.bytes)}")
        return 0
    if args.every:
        configure_logging(settings)
        run_forever(layout, settings.cache, args.every)
    print_gc(collect_garbage(layout, settings.cache))
    return 0


def cache_stats(layout: DataLayout, settings: Settings, *, as_json: bool) -> int:
    variants, temps = scan(layout.cache)
    size = sum(item.size for item in variants)
    budget = settings.cache.max_bytes
    low = int(budget * settings.cache.low_watermark)
    free = shutil.disk_usage(layout.root).free
    images = len({item.path.relative_to(layout.cache).parts[1] for item in variants})
    if as_json:
        print(json.dumps({
            "cache_dir": str(layout.cache), "files": len(variants), "bytes": size,
            "images": images, "temp_files": len(temps), "budget_bytes": budget,
            "low_watermark_bytes": low, "free_disk_bytes": free,
            "min_free_bytes": settings.cache.min_free_bytes,
        }, indent=2))
        return 0
    used = f" ({size / budget:.1%} of the budget)" if budget else ""
    trim = f", trimmed to {human_bytes(low)} when over" if budget else " (variants are not kept)"
    print(f"cache      {layout.cache}")
    print(f"variants   {len(variants)} files of {images} images, {human_bytes(size)}{used}")
    print(f"budget     {human_bytes(budget)}{trim}")
    print(f"temp files {len(temps)}")
    print(f"free disk  {human_bytes(free)} "
          f"(variants are not written below {human_bytes(settings.cache.min_free_bytes)})")
    return 0


def print_gc(gc: GcReport) -> None:
    log_report(gc)
    print(f"evicted    {gc.evicted.files} variant(s), {human_bytes(gc.evicted.bytes)}")
    print(f"temp files {gc.temp_removed.files} removed")
    print(f"cache now  {gc.after.files} files, {human_bytes(gc.after.bytes)}")


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"

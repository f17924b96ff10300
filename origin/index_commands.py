"""``pictor search``, ``pictor dupes``, ``pictor jobs`` and ``pictor worker``: the
indexer's commands.  Each parses its arguments and calls the libraries in ``indexer``;
``pictor search`` ranks with :func:`indexer.searching.run_search`, exactly as the HTTP
API does (semantic search asks the running worker)."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import closing
from typing import Any

from indexer import jobs
from indexer.clusters import Cluster, find_clusters
from indexer.config import Settings
from indexer.db import open_database
from indexer.errors import BadRequest
from indexer.layout import DataLayout
from indexer.searching import MODES, Found, found_images, make_query, run_search
from origin.cli import command
from origin.logs import configure_logging

SHOWN_TAGS = 5  # best first, as indexer.annotations.tags_of orders them


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    search = sub.add_parser("search", parents=[common], help="find images by text or meaning")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("--mode", choices=MODES, default="text", help="default: text")
    search.add_argument("--limit", type=int, default=20, metavar="N", help="results (20)")
    search.add_argument("--json", action="store_true", help="print JSON")

    dupes = sub.add_parser("dupes", parents=[common], help="clusters of near-duplicate images")
    dupes.add_argument(
        "--threshold", type=int, metavar="N", help="pHash bits (ingest.near_duplicate_threshold)"
    )
    dupes.add_argument("--json", action="store_true", help="print JSON")

    queue = sub.add_parser("jobs", parents=[common], help="AI job queue and worker state")
    queue.add_argument("--retry-failed", action="store_true", help="requeue failed jobs")
    queue.add_argument("--json", action="store_true", help="print JSON")

    sub.add_parser("worker", parents=[common], help="run the AI job worker (pictor serve does)")


def _database(settings: Settings) -> tuple[DataLayout, Any]:
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    return layout, open_database(layout.database)


@command("search")
def search(args: argparse.Namespace, settings: Settings) -> int:
    if not 1 <= args.limit <= 1000:
        raise BadRequest("--limit must be 1..1000")
    query = make_query(args.query, args.mode, args.limit)
    layout, connection = _database(settings)
    with closing(connection):
        hits, notice = run_search(connection, layout, settings.ai, query)
        rows = [_row(found) for found in found_images(connection, hits)]
    if args.json:
        print(json.dumps({"query": query.text, "mode": query.mode, "results": rows}, indent=2))
    else:
        for row in rows:
            print(f"{row['id']}  {row['score']:9.4f}  {row['label']}  [{', '.join(row['tags'])}]")
        print(f"{len(rows)} result(s)", file=sys.stderr)
    if notice:
        print(f"pictor: {notice}", file=sys.stderr)
    return 0


def _row(found: Found) -> dict[str, Any]:
    return {
        "id": found.record.id,
        "score": found.hit.score,
        "label": found.record.title or found.record.filename,
        "tags": [tag.tag for tag in found.tags[:SHOWN_TAGS]],
    }


@command("dupes")
def dupes(args: argparse.Namespace, settings: Settings) -> int:
    if args.threshold is not None and not 0 <= args.threshold <= 64:
        raise BadRequest("--threshold must be 0..64 (pHash bits)")
    _, connection = _database(settings)
    with closing(connection):
        clusters = find_clusters(connection, settings.ingest, args.threshold)
    threshold = (
        settings.ingest.near_duplicate_threshold if args.threshold is None else args.threshold
    )
    if args.json:
        document = {"threshold": threshold, "clusters": [c.as_json() for c in clusters]}
        print(json.dumps(document, indent=2))
        return 0
    for number, cluster in enumerate(clusters, start=1):
        print(_describe(number, cluster))
    print(f"{len(clusters)} cluster(s) at pHash distance <= {threshold}", file=sys.stderr)
    return 0


def _describe(number: int, cluster: Cluster) -> str:
    lines = [f"cluster {number}: keep {cluster.keeper}"]
    for member in cluster.members:
        mark = "keep  " if member.id == cluster.keeper else "remove"
        lines.append(
            f"  {mark} {member.id}  {member.width}x{member.height}  {member.bytes:>10} B"
            f"  distance {member.distance:2d}  {member.filename}"
        )
    return "\n".join(lines)


@command("jobs")
def show_jobs(args: argparse.Namespace, settings: Settings) -> int:
    _, connection = _database(settings)
    with closing(connection):
        retried = jobs.retry_failed(connection) if args.retry_failed else 0
        status = jobs.queue_status(connection)
        errors = jobs.recent_errors(connection)
    if args.json:
        print(json.dumps({**status, "retried": retried, "recent_errors": errors}, indent=2))
        return 0
    counts = status["jobs"]
    assert isinstance(counts, dict)
    print(f"worker: {status['state']}" + (f" ({status['detail']})" if status["detail"] else ""))
    if status["model"]:
        print(f"model:  {status['model']}")
    print("jobs:   " + ", ".join(f"{state} {count}" for state, count in counts.items()))
    if args.retry_failed:
        print(f"requeued {retried} failed job(s)")
    for error in errors:
        print(
            f"  {error['image_id']}  {error['state']} after {error['attempts']}: {error['error']}"
        )
    return 0


@command("worker")
def worker(args: argparse.Namespace, settings: Settings) -> int:
    from indexer import worker as working  # the only command that may load torch

    configure_logging(settings)
    return working.main(settings)

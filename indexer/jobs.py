"""The job queue in SQLite (sql/0003) and the worker's reported state.

Ingest enqueues through a trigger.  The worker claims a batch (pending, due, oldest
first) in one transaction, so two workers never take the same job; each job ends
'done', or goes back to 'pending' with an exponential backoff
(``ai.retry_seconds * 2 ** (attempts - 1)``), or ends 'failed' after ``ai.max_attempts``.
A worker that died mid-batch leaves 'running' jobs; the next one requeues them.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass

from indexer.db import transaction

CLIP = "clip"
STATES = ("pending", "running", "done", "failed")
HEARTBEAT_STALE_SECONDS = 60.0
MAX_ERROR_LENGTH = 500


@dataclass(frozen=True)
class Job:
    id: int
    image_id: str
    kind: str
    attempts: int  # including the current one


def claim(
    connection: sqlite3.Connection, kind: str, limit: int, now: float | None = None
) -> list[Job]:
    now = time.time() if now is None else now
    with transaction(connection):
        rows = connection.execute(
            "SELECT id, image_id, kind, attempts FROM jobs"
            " WHERE state = 'pending' AND kind = ? AND run_after <= ? ORDER BY id LIMIT ?",
            (kind, now, limit),
        ).fetchall()
        connection.executemany(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = ?"
            " WHERE id = ?",
            [(now, row[0]) for row in rows],
        )
    return [Job(row[0], row[1], row[2], row[3] + 1) for row in rows]


def complete(connection: sqlite3.Connection, job: Job) -> None:
    """Mark done; call inside the transaction that stores the job's results."""
    connection.execute(
        "UPDATE jobs SET state = 'done', last_error = '', updated_at = ? WHERE id = ?",
        (time.time(), job.id),
    )


def fail(
    connection: sqlite3.Connection,
    job: Job,
    error: str,
    max_attempts: int,
    retry_seconds: float,
    now: float | None = None,
) -> str:
    """Record a failure: back to 'pending' after a backoff, or 'failed' for good.
    Returns the new state."""
    now = time.time() if now is None else now
    state = "failed" if job.attempts >= max_attempts else "pending"
    delay = retry_seconds * 2 ** (job.attempts - 1)
    with transaction(connection):
        connection.execute(
            "UPDATE jobs SET state = ?, run_after = ?, last_error = ?, updated_at = ? WHERE id = ?",
            (state, now + delay, error[:MAX_ERROR_LENGTH], now, job.id),
        )
    return state


def requeue_running(connection: sqlite3.Connection) -> int:
    """Jobs a dead worker left 'running' go back to 'pending' (attempt not refunded)."""
    with transaction(connection):
        cursor = connection.execute(
            "UPDATE jobs SET state = 'pending', run_after = 0 WHERE state = 'running'"
        )
    return cursor.rowcount


def enqueue_missing(connection: sqlite3.Connection, model: str) -> int:
    """Every image without an embedding from ``model`` gets a pending CLIP job: images
    from before the queue existed, and all of them after a model change."""
    with transaction(connection):
        cursor = connection.execute(
            "INSERT INTO jobs (image_id, kind)"
            " SELECT i.id, ? FROM images i"
            " LEFT JOIN embeddings e ON e.image_id = i.id AND e.model = ?"
            " WHERE e.image_id IS NULL"
            " ON CONFLICT (image_id, kind) DO UPDATE SET"
            "   state = 'pending', attempts = 0, run_after = 0, last_error = ''"
            " WHERE jobs.state = 'done'",
            (CLIP, model),
        )
    return cursor.rowcount


def retry_failed(connection: sqlite3.Connection) -> int:
    with transaction(connection):
        cursor = connection.execute(
            "UPDATE jobs SET state = 'pending', attempts = 0, run_after = 0 WHERE state = 'failed'"
        )
    return cursor.rowcount


def counts(connection: sqlite3.Connection) -> dict[str, int]:
    found = dict(connection.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())
    return {state: int(found.get(state, 0)) for state in STATES}


def recent_errors(connection: sqlite3.Connection, limit: int = 5) -> list[dict[str, object]]:
    rows = connection.execute(
        "SELECT image_id, state, attempts, last_error FROM jobs WHERE last_error != ''"
        " ORDER BY updated_at DESC LIMIT ?",
        (limit,),
    )
    return [dict(zip(("image_id", "state", "attempts", "error"), row, strict=True)) for row in rows]


def report_state(
    connection: sqlite3.Connection, name: str, state: str, detail: str = "", model: str = ""
) -> None:
    """The worker's heartbeat: what it is doing and why."""
    with transaction(connection):
        connection.execute(
            "INSERT INTO worker_state (name, state, detail, model, pid, heartbeat)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET state = excluded.state,"
            " detail = excluded.detail, model = excluded.model, pid = excluded.pid,"
            " heartbeat = excluded.heartbeat",
            (name, state, detail, model, os.getpid(), time.time()),
        )


def worker_state(connection: sqlite3.Connection, name: str = CLIP) -> dict[str, str]:
    """``state`` is the worker's own word, or 'not running' when it is silent."""
    row = connection.execute(
        "SELECT state, detail, model, heartbeat FROM worker_state WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        return {"state": "not running", "detail": "no worker has started", "model": ""}
    # 'unavailable' and 'stopped' stay true without a heartbeat; a silent 'ready' or
    # 'loading' worker has died.
    silent = time.time() - row[3] > HEARTBEAT_STALE_SECONDS
    if silent and row[0] not in ("unavailable", "stopped"):
        return {"state": "not running", "detail": "the worker stopped reporting", "model": row[2]}
    return {"state": row[0], "detail": row[1], "model": row[2]}


def queue_status(connection: sqlite3.Connection) -> dict[str, object]:
    """The ``ai`` block of ``/api/status`` and ``pictor jobs``."""
    return {**worker_state(connection), "jobs": counts(connection)}

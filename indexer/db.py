"""SQLite access: WAL mode, foreign keys, and numbered migrations from ``sql/``.

Migrations ``sql/NNNN_name.sql`` are applied in order, each once, inside a
transaction, and recorded in ``_migrations``.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "sql"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
BUSY_TIMEOUT_MS = 10_000


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    connection = sqlite3.connect(
        uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    connection.row_factory = sqlite3.Row
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA foreign_keys = ON")
    if not readonly:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
    return connection


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: take the write lock up front, so two writers
    queue on the busy timeout instead of failing half-way with SQLITE_BUSY."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def migrations() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if not _MIGRATION_NAME.match(path.name):
            raise RuntimeError(f"migration file name {path.name} is not NNNN_name.sql")
        found.append((path.stem, path))
    return found


def migrate(connection: sqlite3.Connection) -> list[str]:
    """Apply pending migrations; return the names applied now."""
    connection.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL"
        " DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
    )
    applied_now = []
    for name, path in migrations():
        with transaction(connection):
            if connection.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                continue
            for statement in _statements(path.read_text()):
                connection.execute(statement)
            connection.execute("INSERT INTO _migrations (name) VALUES (?)", (name,))
        applied_now.append(name)
    return applied_now


def _statements(script: str) -> Iterator[str]:
    """Split a script into complete statements (``executescript`` would commit our
    transaction).  ``sqlite3.complete_statement`` keeps trigger bodies whole."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer
            buffer = ""
    if buffer.strip() and not buffer.strip().startswith("--"):
        yield buffer


def open_database(path: Path) -> sqlite3.Connection:
    """Connect and bring the schema up to date."""
    connection = connect(path)
    migrate(connection)
    return connection

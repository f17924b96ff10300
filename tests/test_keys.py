"""API keys (indexer.keys) on a real SQLite file, and ``pictor keys`` as a user runs it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from indexer.db import open_database
from indexer.errors import BadRequest, NotFound
from indexer.keys import (
    SCOPES,
    browser_origins,
    create_key,
    ensure_first_key,
    hash_key,
    list_keys,
    needs_touch,
    normalize_origin,
    parse_scopes,
    revoke_key,
    touch_key,
    verify_key,
)
from tests.api_support import KEY_PATTERN
from tests.conftest import clean_environment


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    with closing(open_database(tmp_path / "pictor.db")) as connection:
        yield connection


def test_created_key_verifies_and_carries_its_scopes(db: sqlite3.Connection) -> None:
    key, plaintext = create_key(db, "cms", ["read,write"], ["https://cms.example.com"])
    assert KEY_PATTERN.match(plaintext)
    found = verify_key(db, plaintext)
    assert found is not None and found.name == "cms" and found.id == key.id
    assert found.scopes == {"read", "write"}
    assert found.allows("read") and found.allows("write")
    assert not found.allows("delete") and not found.allows("sign") and not found.allows("admin")
    assert found.origins == ("https://cms.example.com",)


def test_admin_scope_implies_every_scope(db: sqlite3.Connection) -> None:
    _, plaintext = create_key(db, "root", ["admin"])
    key = verify_key(db, plaintext)
    assert key is not None and all(key.allows(scope) for scope in SCOPES)


def test_only_the_hash_is_stored(db: sqlite3.Connection, tmp_path: Path) -> None:
    _, plaintext = create_key(db, "cms", ["read"])
    row = db.execute("SELECT * FROM api_keys").fetchone()
    assert row["key_hash"] == hash_key(plaintext)
    assert plaintext not in [str(value) for value in tuple(row)]
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert plaintext.encode() not in (tmp_path / "pictor.db").read_bytes()
    assert row["prefix"] == plaintext[:8]


@pytest.mark.parametrize(
    "presented",
    ["", "pk_", "pk_wrong", "Bearer pk_x", "x" * 10_000, "pk_" + "A" * 43],
)
def test_wrong_keys_do_not_verify(db: sqlite3.Connection, presented: str) -> None:
    create_key(db, "cms", ["read"])
    assert verify_key(db, presented) is None


def test_a_near_miss_does_not_verify(db: sqlite3.Connection) -> None:
    _, plaintext = create_key(db, "cms", ["read"])
    flipped = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
    assert verify_key(db, flipped) is None
    assert verify_key(db, plaintext + "x") is None


def test_revoked_key_stops_working_and_its_name_can_be_reused(db: sqlite3.Connection) -> None:
    _, old = create_key(db, "cms", ["read"])
    revoked = revoke_key(db, "cms")
    assert revoked.revoked_at is not None and not revoked.active
    assert verify_key(db, old) is None
    with pytest.raises(NotFound, match="no active key named 'cms'"):
        revoke_key(db, "cms")
    _, new = create_key(db, "cms", ["write"])
    key = verify_key(db, new)
    assert key is not None and key.scopes == {"write"}
    assert [(k.name, k.active) for k in list_keys(db)] == [("cms", False), ("cms", True)]


def test_an_active_name_is_unique(db: sqlite3.Connection) -> None:
    create_key(db, "cms", ["read"])
    with pytest.raises(BadRequest, match="active key named 'cms' exists"):
        create_key(db, "cms", ["write"])


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["read"], {"read"}),
        (["read,write"], {"read", "write"}),
        (["read", "sign, delete"], {"read", "sign", "delete"}),
        ([" admin "], {"admin"}),
    ],
)
def test_parse_scopes(given: list[str], expected: set[str]) -> None:
    assert parse_scopes(given) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [(["root"], "unknown scope 'root'"), ([""], "at least one scope"),
     (["read,Write"], "unknown scope 'Write'")],
)
def test_parse_scopes_rejects(given: list[str], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_scopes(given)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://cms.example.com", "https://cms.example.com"),
        ("https://CMS.Example.com/", "https://cms.example.com"),
        ("https://cms.example.com:443", "https://cms.example.com"),
        ("http://localhost:8000", "http://localhost:8000"),
        ("http://cms.example.com:80", "http://cms.example.com"),
    ],
)
def test_normalize_origin(given: str, expected: str) -> None:
    assert normalize_origin(given) == expected


@pytest.mark.parametrize(
    "given",
    ["cms.example.com", "ftp://cms.example.com", "https://cms.example.com/page",
     "https://user@cms.example.com", "https://cms.example.com:99999", "https://"],
)
def test_normalize_origin_rejects(given: str) -> None:
    with pytest.raises(BadRequest, match="invalid origin"):
        normalize_origin(given)
    assert normalize_origin(given, strict=False) == ""


@pytest.mark.parametrize("name", ["", "-lead", "has space", "x" * 65, "semi;colon"])
def test_key_names_are_checked(db: sqlite3.Connection, name: str) -> None:
    with pytest.raises(BadRequest, match="invalid key name"):
        create_key(db, name, ["read"])


def test_browser_origins_are_those_of_active_keys(db: sqlite3.Connection) -> None:
    create_key(db, "a", ["write"], ["https://a.example", "https://both.example"])
    create_key(db, "b", ["write"], ["https://both.example"])
    create_key(db, "gone", ["write"], ["https://gone.example"])
    revoke_key(db, "gone")
    assert browser_origins(db) == {"https://a.example", "https://both.example"}


def test_first_key_is_made_once(db: sqlite3.Connection) -> None:
    plaintext = ensure_first_key(db)
    assert plaintext is not None
    key = verify_key(db, plaintext)
    assert key is not None and key.name == "admin" and key.scopes == {"admin"}
    assert ensure_first_key(db) is None
    revoke_key(db, "admin")
    assert ensure_first_key(db) is None  # revoking every key does not mint a new one


def test_last_used_is_recorded_at_most_once_a_minute(db: sqlite3.Connection) -> None:
    _, plaintext = create_key(db, "cms", ["read"])
    key = verify_key(db, plaintext)
    assert key is not None and key.last_used_at is None and needs_touch(key)
    touch_key(db, key)
    used = verify_key(db, plaintext)
    assert used is not None and used.last_used_at is not None
    assert not needs_touch(used)
    later = datetime.now(UTC) + timedelta(seconds=61)
    assert needs_touch(used, now=later)


def pictor(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "origin.cli", "keys", *args, "--data", str(data)],
        capture_output=True, text=True, env=clean_environment(), cwd=data.parent, check=False,
    )


def test_cli_create_list_revoke(tmp_path: Path) -> None:
    data = tmp_path / "data"
    created = pictor(data, "create", "--name", "cms", "--scope", "read,write",
                     "--origin", "https://CMS.example.com")
    assert created.returncode == 0, created.stderr
    plaintext = created.stdout.strip().splitlines()[-1]
    assert KEY_PATTERN.match(plaintext)
    listed = pictor(data, "list")
    assert listed.returncode == 0
    row = next(line for line in listed.stdout.splitlines() if line.startswith("cms\t"))
    assert "read,write" in row and "https://cms.example.com" in row
    assert plaintext[:8] in row and plaintext not in listed.stdout
    revoked = pictor(data, "revoke", "cms")
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    with closing(open_database(data / "pictor.db")) as connection:
        assert verify_key(connection, plaintext) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "--name", "x", "--scope", "root"], "unknown scope 'root'"),
        (["create", "--name", "x", "--scope", "read", "--origin", "nope"], "invalid origin"),
        (["revoke", "ghost"], "no active key named 'ghost'"),
    ],
)
def test_cli_errors_name_the_problem(tmp_path: Path, args: list[str], message: str) -> None:
    result = pictor(tmp_path / "data", *args)
    assert result.returncode == 1
    assert message in result.stderr

"""The admin web UI, driven in Debian's headless Chromium (Playwright) against a real
``pictor serve`` with Nginx in front; refusals checked over plain HTTP.

Screenshots of every page land in ``test-artifacts/admin/`` (gitignored).
"""

from __future__ import annotations

import base64
import html
import importlib.util
import io
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from indexer.config import Settings
from indexer.db import connect, open_database
from indexer.jobs import worker_state
from indexer.keys import create_key
from origin.admin.guard import COOKIE
from origin.admin.links import THUMB_OPTIONS, transform_url
from origin.admin.login import LOGIN_COOKIE, safe_next
from origin.admin.sessions import create_session, find_session, hash_token
from origin.admin.urlbuilder import build_url, options_from_fields
from origin.signing import sign
from tests.conftest import REPO, Server, make_settings, photo, require, start_server

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO / "test-artifacts" / "admin"
SIGNING_KEY = "admin-ui-test-signing-key"
PHOTOS = ("LadyBird.jpg", "Bridge_by_Sander_Klootwijk.jpg")
EXTRA = "goldfish.png"


# ---------------------------------------------------------------------------------------
# Fast unit tests of the pure parts


@pytest.mark.parametrize(
    ("fields", "options"),
    [
        ({}, "-"),
        ({"w": "400"}, "w_400"),
        ({"w": "400", "h": "300", "fit": "cover", "g": "ne"}, "fit_cover,g_ne,h_300,w_400"),
        ({"w": "0400", "fit": "inside", "q": "high"}, "q_high,w_400"),  # defaults dropped
        ({"w": " 200 ", "h": "", "dpr": "2.0"}, "dpr_2,w_200"),
    ],
)
def test_url_builder_makes_canonical_options(fields: dict[str, str], options: str) -> None:
    assert options_from_fields(fields) == options


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"w": "0"}, "w"),
        ({"w": "abc"}, "w"),
        ({"fit": "stretch"}, "fit"),
        ({"q": "101"}, "q"),
        ({"w": "100,h_5"}, "w"),  # no smuggled tokens
        ({"w": "100", "format": "bmp"}, "format"),
    ],
)
def test_url_builder_refuses_bad_fields(
    settings: Settings, fields: dict[str, str], message: str
) -> None:
    from indexer.errors import BadRequest

    with pytest.raises(BadRequest, match=message):
        build_url(settings, "0" * 20, fields)


def test_url_builder_signs_with_the_first_key(tmp_path: Path) -> None:
    signed = make_settings(tmp_path, security={"signing_keys": ["k1", "k2"]})
    built = build_url(signed, "ab" * 10, {"w": "300", "format": "webp"})
    assert built.path == f"/img/{sign('k1', 'w_300', 'ab' * 10 + '.webp')}/w_300/{'ab' * 10}.webp"
    unsigned = make_settings(tmp_path)
    expected = f"/img/_/{THUMB_OPTIONS}/{'cd' * 10}"
    assert transform_url(unsigned, THUMB_OPTIONS, "cd" * 10) == expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (None, "/admin"),
        ("", "/admin"),
        ("/admin/images/abc?x=1", "/admin/images/abc?x=1"),
        ("https://evil.example/admin", "/admin"),
        ("//evil.example/admin", "/admin"),
        ("/api/images", "/admin"),
    ],
)
def test_login_only_redirects_inside_the_admin(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


@pytest.mark.parametrize(
    ("value", "kind", "shown"),
    [
        (512, "bytes", "512 B"),
        (1536, "bytes", "1.5 KB"),
        (10 * 1024**3, "bytes", "10.0 GB"),
        (59.9, "duration", "0h 0m 59s"),
        (3 * 86400 + 7260, "duration", "3d 2h 1m"),
        (0.8734, "ratio", "87.3%"),
        (1234567, "", "1,234,567"),
        (True, "", "True"),
        ("ready", "", "ready"),
    ],
)
def test_status_figures_read_like_people_write_them(value: object, kind: str, shown: str) -> None:
    from origin.admin.rendering import figure

    assert figure(value, kind) == shown


def test_render_latency_percentiles_from_the_access_log(tmp_path: Path) -> None:
    import json
    from datetime import UTC, datetime, timedelta

    from origin.admin.latency import render_latency

    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def line(seconds: float, cache: str = "MISS", age: int = 60) -> str:
        when = (now - timedelta(seconds=age)).isoformat()
        return json.dumps({"time": when, "client": "127.0.0.1", "method": "GET",
                           "uri": "/img/x", "status": 200, "request_time": seconds,
                           "upstream_time": "" if cache == "HIT" else f"{seconds:.3f}",
                           "cache": cache, "request_id": "r"})

    log = tmp_path / "access.log"
    renders = [line(n / 100) for n in range(1, 101)]  # 0.01 .. 1.00 s
    others = [line(9.0, cache="HIT"), line(9.0, age=7200), "not json"]
    log.write_text("\n".join([*renders, *others]) + "\n")
    latency = render_latency([log, tmp_path / "missing.log"], now - timedelta(hours=1))
    assert latency is not None and latency.renders == 100
    assert latency.seconds == {50: 0.5, 90: 0.9, 99: 0.99}
    assert render_latency([log], now + timedelta(hours=1)) is None


def test_sessions_store_only_a_hash_and_expire(tmp_path: Path) -> None:
    with closing(open_database(tmp_path / "pictor.db")) as db:
        key, _ = create_key(db, "editor", ["write"])
        token = create_session(db, key.id, now=1000.0, lifetime=60)
        stored = [row[0] for row in db.execute("SELECT token_hash FROM admin_sessions")]
        assert stored == [hash_token(token)]
        assert token not in str(list(db.execute("SELECT * FROM admin_sessions").fetchall()[0]))
        session = find_session(db, token, now=1059.0)
        assert session is not None and session.key.name == "editor" and session.may_administer
        assert find_session(db, token, now=1060.0) is None  # expired
        assert find_session(db, token + "x", now=1000.0) is None
        db.execute("UPDATE api_keys SET revoked_at = 'now'")
        assert find_session(db, token, now=1001.0) is None  # revoking the key ends it


def test_library_pages_walk_the_index_at_10k_images(tmp_path: Path) -> None:
    """Keyset pagination: every page query of the library (first page, a late page,
    filtered by format) reads the ``images_created`` index in order; no sort of the
    whole table, no OFFSET."""
    from indexer.listing import ImageQuery, list_images

    with closing(open_database(tmp_path / "pictor.db")) as db:
        _insert_synthetic_images(db, 10_000)
        statements: list[str] = []
        db.set_trace_callback(statements.append)
        first = list_images(db, ImageQuery(limit=48))
        later = list_images(db, ImageQuery(limit=48, cursor=first.next_cursor or ""))
        list_images(db, ImageQuery(limit=48, format="png", cursor=later.next_cursor or ""))
        db.set_trace_callback(None)
        assert len(first.images) == 48 and later.images[0].id < first.images[-1].id
        page_queries = [s for s in statements if "ORDER BY created_at DESC" in s]
        assert len(page_queries) == 3
        for sql in page_queries:
            plan = " / ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}"))
            assert "images_created" in plan, plan
            assert "TEMP B-TREE" not in plan, plan


def _insert_synthetic_images(db: sqlite3.Connection, count: int) -> None:
    rows = [
        (f"{n:020x}", f"{n:064x}", 1000, 640, 480, "png" if n % 10 == 0 else "jpeg",
         f"2026-01-01T00:00:{n % 60:02d}.{n:06d}Z")
        for n in range(count)
    ]
    with db:
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO images (id, sha256, bytes, width, height, format, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    db.execute("ANALYZE")


# ---------------------------------------------------------------------------------------
# The running server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("admin-server")
    running = start_server(
        directory,
        nginx=True,
        config={"security": {"signing_keys": [SIGNING_KEY]}, "server": {"workers": 1}},
    )
    yield running
    running.stop()


def make_key(server: Server, name: str, scopes: list[str]) -> str:
    with closing(connect(server.layout.database)) as db:
        _, plaintext = create_key(db, name, scopes)
    return plaintext


def db_row(server: Server, sql: str, *params: Any) -> sqlite3.Row | None:
    with closing(connect(server.layout.database, readonly=True)) as db:
        row: sqlite3.Row | None = db.execute(sql, params).fetchone()
        return row


def log_in(client: httpx.Client, key: str) -> httpx.Response:
    """The browser's way in: fetch the form (double-submit token), post the key."""
    form = client.get("/admin/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    return client.post(
        "/admin/login", data={"key": key, "csrf_token": token.group(1), "next": "/admin"}
    )


def page_csrf(client: httpx.Client, path: str = "/admin") -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get(path).text)
    assert match
    return match.group(1)


def decode(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


# ---------------------------------------------------------------------------------------
# Refusals over HTTP


def test_wrong_key_and_read_only_key_are_refused(server: Server) -> None:
    reader = make_key(server, "reader-only", ["read"])
    with server.client() as client:
        wrong = log_in(client, "pk_" + "x" * 43)
        assert wrong.status_code == 401 and COOKIE not in wrong.cookies
        assert "wrong or revoked API key" in wrong.text
        read_only = log_in(client, reader)
        assert read_only.status_code == 403 and COOKIE not in read_only.cookies
        assert "neither the admin nor the write scope" in read_only.text
        assert client.get("/admin").status_code == 303  # still logged out


def test_login_form_needs_its_own_token(server: Server) -> None:
    key = make_key(server, "no-login-token", ["admin"])
    with server.client() as client:
        client.get("/admin/login")
        refused = client.post("/admin/login", data={"key": key, "csrf_token": "forged"})
        assert refused.status_code == 403 and COOKIE not in refused.cookies
    with server.client() as fresh:  # a foreign page has no login cookie at all
        refused = fresh.post("/admin/login", data={"key": key, "csrf_token": "x"})
        assert refused.status_code == 403


def test_session_cookie_flags(server: Server) -> None:
    key = make_key(server, "cookie-flags", ["write"])
    with server.client() as client:
        response = log_in(client, key)
        assert response.status_code == 303 and response.headers["location"] == "/admin"
        cookie = response.headers["set-cookie"]
        assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert "Secure" not in cookie  # plain HTTP here
        token = client.cookies[COOKIE]
        assert db_row(server, "SELECT 1 FROM admin_sessions WHERE token_hash = ?", token) is None
        assert db_row(
            server, "SELECT 1 FROM admin_sessions WHERE token_hash = ?", hash_token(token)
        )
    # Behind a TLS proxy (X-Forwarded-Proto: https) the cookie is Secure.  Nginx sets that
    # header from its own scheme, so talk to the origin's socket directly, as a TLS
    # terminator in front would.
    transport = httpx.HTTPTransport(uds=str(server.layout.run / "origin.sock"))
    with httpx.Client(transport=transport, base_url="http://pictor") as client:
        client.headers["X-Forwarded-Proto"] = "https"
        form = client.get("/admin/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token and "Secure" in form.headers["set-cookie"]
        client.cookies.set(LOGIN_COOKIE, form.cookies[LOGIN_COOKIE])
        response = client.post("/admin/login", data={"key": key, "csrf_token": token.group(1)})
        assert response.status_code == 303 and "Secure" in response.headers["set-cookie"]


def test_expired_session_is_refused(server: Server) -> None:
    key = make_key(server, "expiring", ["admin"])
    with server.client() as client:
        assert log_in(client, key).status_code == 303
        csrf = page_csrf(client)
        assert client.get("/admin").status_code == 200
        with closing(connect(server.layout.database)) as db, db:
            db.execute(
                "UPDATE admin_sessions SET expires_at = ? WHERE token_hash = ?",
                (time.time() - 1, hash_token(client.cookies[COOKIE])),
            )
        page = client.get("/admin/upload")
        assert page.status_code == 303
        assert page.headers["location"] == "/admin/login?next=%2Fadmin%2Fupload"
        refused = client.post("/admin/logout", data={"csrf_token": csrf})
        assert refused.status_code == 401
        api = client.get("/api/images", headers={"X-CSRF-Token": csrf})
        assert api.status_code == 401


def test_missing_or_wrong_csrf_token_is_refused(server: Server) -> None:
    key = make_key(server, "csrf-check", ["admin"])
    image_id = _upload_over_api(server, key, EXTRA)
    with server.client() as client:
        assert log_in(client, key).status_code == 303
        csrf = page_csrf(client)
        path = f"/admin/images/{image_id}/text"
        fields = {"title": "t", "alt": "forged alt", "description": ""}
        assert client.post(path, data=fields).status_code == 403
        assert client.post(path, data={**fields, "csrf_token": csrf[:-2] + "xx"}).status_code == 403
        row = db_row(server, "SELECT alt FROM images WHERE id = ?", image_id)
        assert row is not None and row["alt"] == ""
        # The JSON API accepts the session only together with the CSRF header.
        assert client.delete(f"/api/images/{image_id}").status_code == 401
        assert client.get("/api/images").status_code == 401
        listed = client.get("/api/images", headers={"X-CSRF-Token": csrf})
        assert listed.status_code == 200 and image_id in listed.text
        assert client.post("/admin/logout").status_code == 403
        assert client.get("/admin").status_code == 200  # still logged in
        accepted = client.post(path, data={**fields, "csrf_token": csrf})
        assert accepted.status_code == 303
        row = db_row(server, "SELECT alt FROM images WHERE id = ?", image_id)
        assert row is not None and row["alt"] == "forged alt"
        assert client.post("/admin/logout", data={"csrf_token": csrf}).status_code == 303
        assert client.get("/admin").status_code == 303
        remaining = db_row(
            server,
            "SELECT count(*) AS n FROM admin_sessions AS s JOIN api_keys AS k"
            " ON k.id = s.key_id WHERE k.name = 'csrf-check'",
        )
        assert remaining is not None and remaining["n"] == 0


def test_search_modes_without_the_ai_worker(server: Server) -> None:
    """No worker runs here: semantic search says why (503 page); hybrid falls back to
    its full-text and exact-tag rankings and says so."""
    key = make_key(server, "searcher", ["write"])
    image_id = _upload_over_api(server, key, "Wine_by_Jakkub_Mede.jpg")
    with closing(connect(server.layout.database)) as db, db:
        db.execute("INSERT INTO tags VALUES (?, 'wine glass', 'human', NULL)", (image_id,))
    with server.client(headers={"Accept": "text/html"}) as client:
        assert log_in(client, key).status_code == 303
        semantic = client.get("/admin", params={"q": "wine glass", "mode": "semantic"})
        assert semantic.status_code == 503 and "text/html" in semantic.headers["content-type"]
        assert "<h1>503: Service Unavailable</h1>" in semantic.text
        hybrid = client.get("/admin", params={"q": "wine glass", "mode": "hybrid"})
        assert hybrid.status_code == 200 and "text results only" in hybrid.text
        assert f'data-image-id="{image_id}"' in hybrid.text
        bad = client.get("/admin", params={"q": "x", "mode": "telepathic"})
        assert bad.status_code == 400 and "unknown search mode" in bad.text


def test_delete_returns_where_it_was_asked_and_only_inside_the_admin(server: Server) -> None:
    key = make_key(server, "deleter", ["admin"])
    first = _upload_over_api(server, key, "FreshFlower.jpg")
    second = _upload_over_api(server, key, "seeding_by_Clements_Engelhardt.jpg")
    with server.client() as client:
        assert log_in(client, key).status_code == 303
        csrf = page_csrf(client)
        back = client.post(f"/admin/images/{first}/delete",
                           data={"csrf_token": csrf, "next": "/admin/duplicates?done=deleted"})
        assert back.status_code == 303
        assert back.headers["location"] == "/admin/duplicates?done=deleted"
        hostile = client.post(f"/admin/images/{second}/delete",
                              data={"csrf_token": csrf, "next": "https://evil.example/"})
        assert hostile.headers["location"] == f"/admin?deleted={second}"
        again = client.post(f"/admin/images/{second}/delete", data={"csrf_token": csrf})
        assert again.status_code == 404  # already gone: a clear 404, not a 500
    for image_id in (first, second):
        assert db_row(server, "SELECT 1 FROM images WHERE id = ?", image_id) is None


def refused_for_lack_of(response: httpx.Response, scope: str) -> bool:
    """A 403 page (like every admin refusal) naming the missing scope."""
    return (
        response.status_code == 403
        and response.headers["content-type"].startswith("text/html")
        and f"lacks the '{scope}' scope" in html.unescape(response.text)
    )


def test_a_write_key_may_edit_but_not_delete_keep_one_or_sign(server: Server) -> None:
    """The session has its key's scopes: each action needs what its /api twin needs."""
    write_key = make_key(server, "writer-only", ["write"])
    keeper = _upload_over_api(server, write_key, "friends_by_Aitzol_Berasategi.jpg")
    other = _upload_over_api(server, write_key, "sunset_by_Aitzol_Berasategi.jpg")
    with server.client(headers={"Accept": "text/html"}) as client:
        assert log_in(client, write_key).status_code == 303
        csrf = page_csrf(client)
        shown = client.get(f"/admin/images/{keeper}").text
        assert f'action="/admin/images/{keeper}/delete"' not in shown
        assert 'id="url-builder"' not in shown and 'data-needs-scope="sign"' in shown
        delete = client.post(f"/admin/images/{keeper}/delete", data={"csrf_token": csrf})
        assert refused_for_lack_of(delete, "delete"), delete.text
        keep = client.post("/admin/duplicates/keep",
                           data={"csrf_token": csrf, "ids": [keeper, other], "keep": keeper})
        assert refused_for_lack_of(keep, "delete"), keep.text
        signed = client.get(f"/admin/images/{keeper}/url", params={"w": "300"})
        assert refused_for_lack_of(signed, "sign"), signed.text
        script = client.get(f"/admin/images/{keeper}/url", params={"w": "300"},
                            headers={"Accept": "application/json"})  # as admin.js asks
        assert script.status_code == 403 and "sign" in script.json()["error"]
        edited = client.post(f"/admin/images/{keeper}/text",
                             data={"csrf_token": csrf, "title": "kept by a writer", "alt": "",
                                   "description": ""})
        assert edited.status_code == 303  # write is what this key has
    for image_id in (keeper, other):
        assert db_row(server, "SELECT 1 FROM images WHERE id = ?", image_id)
        assert server.layout.original(image_id).exists()
    row = db_row(server, "SELECT title FROM images WHERE id = ?", keeper)
    assert row is not None and row["title"] == "kept by a writer"


def test_an_admin_key_may_delete_keep_one_and_sign(server: Server) -> None:
    admin_key = make_key(server, "scope-admin", ["admin"])
    keeper = _upload_over_api(server, admin_key, "greentock_by_Peter_Nerlich.jpg")
    other = _upload_over_api(server, admin_key, "Stripes.png")
    with server.client(headers={"Accept": "text/html"}) as client:
        assert log_in(client, admin_key).status_code == 303
        csrf = page_csrf(client)
        shown = client.get(f"/admin/images/{keeper}").text
        assert f'action="/admin/images/{keeper}/delete"' in shown and 'id="url-builder"' in shown
        built = client.get(f"/admin/images/{keeper}/url", params={"w": "300", "format": "png"})
        assert built.status_code == 200, built.text
        expected = f"/img/{sign(SIGNING_KEY, 'w_300', keeper + '.png')}/w_300/{keeper}.png"
        assert built.json()["path"] == expected
        served = server.get(expected)
        assert served.status_code == 200 and decode(served.content).size[0] == 300
        keep = client.post("/admin/duplicates/keep",
                           data={"csrf_token": csrf, "ids": [keeper, other], "keep": keeper})
        assert keep.status_code == 303 and keep.headers["location"].endswith("done=kept")
        assert db_row(server, "SELECT 1 FROM images WHERE id = ?", other) is None
        assert db_row(server, "SELECT 1 FROM images WHERE id = ?", keeper)
        delete = client.post(f"/admin/images/{keeper}/delete", data={"csrf_token": csrf})
        assert delete.status_code == 303
    assert db_row(server, "SELECT 1 FROM images WHERE id = ?", keeper) is None
    assert not server.layout.original(keeper).exists()


def _upload_over_api(server: Server, key: str, name: str) -> str:
    with server.client() as client:
        response = client.post(
            "/api/images",
            files={"file": (name, photo(name).read_bytes())},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert response.status_code in (201, 409), response.text
    return str(response.json()["id"])


# ---------------------------------------------------------------------------------------
# In the browser


try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with a clear message
    expect = None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require(CHROMIUM.exists(), "chromium (/usr/bin/chromium)")
    require(importlib.util.find_spec("playwright") is not None, "playwright (dev extra)")
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def wait_until(check: Callable[[], Any], what: str, timeout: float = 30) -> None:
    """Poll a check in the page (``wait_for_function`` would need 'unsafe-eval', which
    the admin pages' Content-Security-Policy rightly refuses)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for: {what}")
        time.sleep(0.05)


ACCESSIBILITY_PROBLEMS = """() => {
    const problems = [];
    for (const img of document.querySelectorAll("img")) {
        if (!img.getAttribute("alt")) problems.push(`img without alt: ${img.src}`);
    }
    const fields = document.querySelectorAll("input:not([type=hidden]), select, textarea");
    for (const field of fields) {
        if (!field.labels.length && !field.getAttribute("aria-label")) {
            problems.push(`field without label: ${field.name || field.id}`);
        }
    }
    for (const button of document.querySelectorAll("button")) {
        if (!button.textContent.trim() && !button.getAttribute("aria-label")) {
            problems.push(`button without a name: ${button.outerHTML}`);
        }
    }
    return problems;
}"""


def screenshot(page: Any, name: str) -> None:
    """Save the page for people to look at, after checking what a screen-reader user
    needs on every page: alt on every image, a label on every field, named buttons."""
    assert page.evaluate(ACCESSIBILITY_PROBLEMS) == [], name
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def drop_files(page: Any, selector: str, paths: list[Path]) -> None:
    """A real drop event carrying real files, as dragging from a file manager does."""
    files = [
        {"name": p.name, "data": base64.b64encode(p.read_bytes()).decode(), "type": "image/jpeg"}
        for p in paths
    ]
    transfer = page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
                transfer.items.add(new File([bytes], f.name, { type: f.type }));
            }
            return transfer;
        }""",
        files,
    )
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def browser_log_in(page: Any, server: Server, key: str) -> None:
    page.goto(server.url + "/admin")
    assert "/admin/login" in page.url
    screenshot(page, "login")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(server.url + "/admin")


def test_wrong_key_in_the_browser_shows_the_reason(server: Server, browser: Any) -> None:
    page = browser.new_page()
    page.goto(server.url + "/admin/login")
    page.get_by_label("API key").fill("pk_not-a-real-key")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text() == "wrong or revoked API key"
    screenshot(page, "login-refused")
    page.close()


def test_editor_workflow(server: Server, browser: Any) -> None:
    key = make_key(server, "editor", ["admin"])
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    browser_log_in(page, server, key)

    ids = upload_two_photos(page, server)
    see_them_in_the_grid(page, server, ids)
    first = ids[PHOTOS[0]]
    tag_and_search(page, server, first)
    edit_alt_text(page, server, first)
    set_focal_point(page, server, ids[PHOTOS[1]])
    build_signed_url(page, server, first)
    screenshot(page, "image")
    delete_image(page, server, first)
    phone_screenshots(browser, context, server, ids[PHOTOS[1]])
    context.close()


def upload_two_photos(page: Any, server: Server) -> dict[str, str]:
    page.goto(server.url + "/admin/upload")
    drop_files(page, "#dropzone", [photo(name) for name in PHOTOS])
    done = page.locator("#uploads li[data-result]")
    expect(done).to_have_count(2)
    rows = page.locator("#uploads li")
    ids: dict[str, str] = {}
    for index in range(2):
        row = rows.nth(index)
        assert row.get_attribute("data-result") == "added", row.inner_text()
        name = row.locator(".name").inner_text()
        ids[name] = row.locator(".result a").first.inner_text()
        assert row.locator("progress").evaluate("bar => bar.value") == 1
    assert set(ids) == set(PHOTOS)
    # The same file again: a duplicate, with a link to the image it duplicates.
    page.set_input_files("#files", str(photo(PHOTOS[0])))
    expect(done).to_have_count(3)
    again = rows.nth(2)
    assert again.get_attribute("data-result") == "duplicate"
    assert again.locator(".result").inner_text() == f"Duplicate of {ids[PHOTOS[0]]}"
    assert again.locator(".result a").get_attribute("href") == f"/admin/images/{ids[PHOTOS[0]]}"
    # Not an image: rejected, with the server's reason.
    page.set_input_files(
        "#files", files=[{"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"hello"}]
    )
    expect(done).to_have_count(4)
    rejected = rows.nth(3)
    assert rejected.get_attribute("data-result") == "rejected"
    assert rejected.locator(".result").inner_text().startswith("Rejected: ")
    screenshot(page, "upload")
    for image_id in ids.values():
        assert db_row(server, "SELECT 1 FROM images WHERE id = ?", image_id)
    return ids


def see_them_in_the_grid(page: Any, server: Server, ids: dict[str, str]) -> None:
    page.goto(server.url + "/admin")
    total = db_row(server, "SELECT count(*) AS n FROM images")
    assert total is not None and page.locator(".grid img").count() == total["n"]
    tiles = page.locator(", ".join(f'a[data-image-id="{i}"] img' for i in ids.values()))
    assert tiles.count() == len(ids)
    for index in range(tiles.count()):
        tile = tiles.nth(index)
        assert tile.get_attribute("src").startswith("/img/thumb/")
        wait_until(lambda tile=tile: tile.evaluate("img => img.complete"), "thumbnail loaded")
        assert tile.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [200, 200]
        assert tile.get_attribute("alt") in PHOTOS  # no alt-text yet: the file name
    screenshot(page, "library")
    # Keyboard: the first Tab reaches the skip link, with a visible focus ring; then the nav.
    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    assert focused.inner_text() == "Skip to content"
    assert focused.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.locator(":focus").inner_text() == "Library"


def tag_and_search(page: Any, server: Server, image_id: str) -> None:
    with closing(connect(server.layout.database)) as db, db:  # as the CLIP worker stores it
        db.execute("INSERT INTO tags VALUES (?, 'insect', 'ai', 0.3127)", (image_id,))
    page.goto(f"{server.url}/admin/images/{image_id}")
    page.get_by_label("Add a tag").fill("Ladybug  Macro")
    page.get_by_role("button", name="Add", exact=True).click()
    page.wait_for_url(re.compile(r"saved=tags"))
    human = page.locator('.tags li[data-tag="ladybug macro"]')
    assert human.get_attribute("class") == "tag human" and human.locator(".badge").count() == 0
    ai = page.locator('.tags li[data-tag="insect"]')
    assert ai.get_attribute("class") == "tag ai"  # adding a tag leaves the AI ones alone
    assert ai.locator(".badge").inner_text() == "AI 0.31"
    ai.get_by_role("button", name="Remove tag insect").click()
    page.wait_for_url(re.compile(r"saved=tags"))
    assert page.locator('.tags li[data-tag="insect"]').count() == 0
    page.goto(server.url + "/admin")
    page.get_by_label("Search").fill("ladybug")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"q=ladybug"))
    links = page.locator(".grid a")
    assert links.count() == 1 and links.first.get_attribute("data-image-id") == image_id
    screenshot(page, "library-search")
    page.goto(server.url + "/admin?tag=ladybug+macro")
    assert page.locator(".grid a").count() == 1


def edit_alt_text(page: Any, server: Server, image_id: str) -> None:
    page.goto(f"{server.url}/admin/images/{image_id}")
    alt = "A red ladybird with black spots on a green leaf"
    page.get_by_label("Alt-text", exact=True).fill(alt)
    page.get_by_label("Title", exact=True).fill("Ladybird")
    page.get_by_role("button", name="Save text").click()
    page.wait_for_url(re.compile(r"saved=text"))
    row = db_row(server, "SELECT alt, title FROM images WHERE id = ?", image_id)
    assert row is not None and (row["alt"], row["title"]) == (alt, "Ladybird")
    assert page.locator("#preview").get_attribute("alt") == alt
    page.goto(server.url + "/admin")
    assert page.locator(f'a[data-image-id="{image_id}"] img').get_attribute("alt") == alt


def set_focal_point(page: Any, server: Server, image_id: str) -> None:
    page.goto(f"{server.url}/admin/images/{image_id}")
    portrait = page.locator('#crops img[data-crop="1"]')
    before_url = portrait.get_attribute("src")
    before = decode(server.get(before_url).content)
    box = page.locator("#preview").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.5)
    expect(portrait).not_to_have_attribute("src", before_url)
    after_url = portrait.get_attribute("src")
    focal = re.search(r"fx_([0-9.]+),fy_([0-9.]+)", after_url)
    assert focal and float(focal.group(1)) == pytest.approx(0.1, abs=0.01), after_url
    wait_until(lambda: portrait.evaluate("img => img.complete && img.naturalWidth > 0"), "crop")
    after = decode(server.get(after_url).content)
    assert before.size == after.size
    assert _mean_difference(before, after) > 10  # a different part of the picture
    focal_x = page.get_by_label(re.compile(r"^Focal x"))
    assert float(focal_x.input_value()) == pytest.approx(0.1, abs=0.01)
    page.get_by_role("button", name="Save focal point").click()
    page.wait_for_url(re.compile(r"saved=focal"))
    row = db_row(server, "SELECT focal_x, focal_y FROM images WHERE id = ?", image_id)
    assert row is not None
    assert row["focal_x"] == pytest.approx(0.1, abs=0.01)
    assert row["focal_y"] == pytest.approx(0.5, abs=0.01)
    assert page.locator('#crops img[data-crop="1"]').get_attribute("src") == after_url
    assert page.locator("#focal-marker").is_visible()
    # Keyboard: focus the picker, arrow right moves the point.
    page.locator("#focal-picker").focus()
    page.keyboard.press("ArrowRight")
    assert float(focal_x.input_value()) == pytest.approx(0.12, abs=0.01)


def _mean_difference(a: Image.Image, b: Image.Image) -> float:
    from PIL import ImageChops, ImageStat

    difference = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    return sum(ImageStat.Stat(difference).mean) / 3


def build_signed_url(page: Any, server: Server, image_id: str) -> None:
    page.goto(f"{server.url}/admin/images/{image_id}")
    page.get_by_label("Width").fill("300")
    page.get_by_label("Height").fill("200")
    page.get_by_label("Fit").select_option("cover")
    page.get_by_label("Format").select_option("webp")
    page.get_by_label("Quality").fill("70")
    page.get_by_role("button", name="Build URL").click()
    output = page.get_by_label("Signed URL")
    expect(output).not_to_have_value("")
    url = output.input_value()
    options = "fit_cover,h_200,q_70,w_300"
    expected = f"/img/{sign(SIGNING_KEY, options, image_id + '.webp')}/{options}/{image_id}.webp"
    assert url == server.url + expected
    served = httpx.get(url, timeout=30)
    assert served.status_code == 200 and served.headers["content-type"] == "image/webp"
    picture = decode(served.content)
    assert (picture.format, picture.size) == ("WEBP", (300, 200))
    # A bad value gets the server's message, naming the token.
    page.get_by_label("Quality").fill("500")
    page.get_by_role("button", name="Build URL").click()
    expect(page.locator("#url-status")).to_have_class("error")
    assert "q" in page.locator("#url-status").inner_text()


def delete_image(page: Any, server: Server, image_id: str) -> None:
    page.goto(f"{server.url}/admin/images/{image_id}")
    page.get_by_text("Delete this image…").click()
    page.get_by_role("button", name="Delete permanently").click()
    page.wait_for_url(re.compile(rf"/admin\?deleted={image_id}"))
    assert db_row(server, "SELECT 1 FROM images WHERE id = ?", image_id) is None
    assert not server.layout.original(image_id).exists()
    assert page.locator(f'a[data-image-id="{image_id}"]').count() == 0
    assert server.get(f"/img/thumb/{image_id}").status_code == 404


def phone_screenshots(browser: Any, desktop: Any, server: Server, image_id: str) -> None:
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
        storage_state=desktop.storage_state(),
    )
    page = phone.new_page()
    for name, path in (("library", "/admin"), ("image", f"/admin/images/{image_id}"),
                       ("upload", "/admin/upload")):
        page.goto(server.url + path)
        # Nothing wider than the screen: no sideways scrolling on a phone.
        too_wide = page.evaluate(
            """() => [...document.querySelectorAll('body *')]
                .filter((e) => e.getBoundingClientRect().right > 391
                               || e.scrollWidth > e.clientWidth + 1)
                .map((e) => `${e.tagName}#${e.id}.${e.className}`)"""
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, too_wide
        screenshot(page, f"phone-{name}")
    phone.close()


def test_duplicates_review(server: Server, browser: Any, tmp_path: Path) -> None:
    """Two near-duplicate pairs: one is dismissed as "not duplicates", the other
    resolved by keeping the suggested keeper (the larger original)."""
    key = make_key(server, "reviewer", ["admin"])
    originals = [photo("Dune.jpg"), photo("Storm.jpg")]
    copies = [_smaller_copy(path, tmp_path) for path in originals]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    browser_log_in(page, server, key)
    page.goto(server.url + "/admin/upload")
    page.set_input_files("#files", [str(path) for path in originals])
    expect(page.locator("#uploads li[data-result]")).to_have_count(2)
    ids = [row_id(page, index) for index in range(2)]
    page.set_input_files("#files", [str(path) for path in copies])
    expect(page.locator("#uploads li[data-result]")).to_have_count(4)
    copy_ids = [row_id(page, index) for index in (2, 3)]
    for index, original in zip((2, 3), ids, strict=True):
        row = page.locator("#uploads li").nth(index)
        assert row.get_attribute("data-result") == "near-duplicate", row.inner_text()
        assert original in row.locator(".result").inner_text()
    with closing(connect(server.layout.database)) as db, db:  # a human tag on one copy
        db.execute("INSERT INTO tags VALUES (?, 'desert', 'human', NULL)", (copy_ids[0],))

    page.goto(server.url + "/admin/duplicates")
    clusters = page.locator("section.card:has(form[action='/admin/duplicates/keep'])")
    assert clusters.count() == 2
    for original, copy in zip(ids, copy_ids, strict=True):
        cluster = clusters.filter(has=page.locator(f'figure[data-image-id="{copy}"]'))
        keeper = cluster.locator("figure.keeper")
        assert keeper.get_attribute("data-image-id") == original  # more pixels wins
        assert keeper.get_by_role("radio").is_checked()
        assert cluster.locator("img").count() == 2
    screenshot(page, "duplicates")

    storm = clusters.filter(has=page.locator(f'figure[data-image-id="{copy_ids[1]}"]'))
    storm.get_by_role("button", name="Not duplicates").click()
    page.wait_for_url(re.compile(r"done=dismissed"))
    assert clusters.count() == 1
    pair = sorted([ids[1], copy_ids[1]])
    assert db_row(server, "SELECT 1 FROM duplicate_dismissals WHERE image_a = ? AND image_b = ?",
                  *pair)

    clusters.first.get_by_role("button", name=re.compile("^Keep the chosen one")).click()
    page.wait_for_url(re.compile(r"done=kept"))
    assert clusters.count() == 0
    assert page.get_by_text("No near-duplicates found.").is_visible()
    assert db_row(server, "SELECT 1 FROM images WHERE id = ?", copy_ids[0]) is None
    assert not server.layout.original(copy_ids[0]).exists()
    merged = db_row(server, "SELECT source FROM tags WHERE image_id = ? AND tag = 'desert'", ids[0])
    assert merged is not None and merged["source"] == "human"  # the copy's tag moved over
    page.close()


def _smaller_copy(path: Path, tmp_path: Path) -> Path:
    """The same photo at half size, recompressed: a near-duplicate, not an exact one."""
    picture = Image.open(path)
    picture.thumbnail((picture.width // 2, picture.height // 2))
    copy = tmp_path / f"copy-of-{path.stem}.jpg"
    picture.convert("RGB").save(copy, quality=80)
    return copy


def row_id(page: Any, index: int) -> str:
    return str(page.locator("#uploads li").nth(index).locator(".result a").first.inner_text())


def test_status_page(server: Server, browser: Any) -> None:
    key = make_key(server, "operator", ["write"])
    assert server.get("/img/thumb/0123456789abcdef0123").status_code == 404  # for the report
    failing = _upload_over_api(server, key, "YellowFlower.jpg")
    assert server.get(f"/img/thumb/{failing}").headers["x-cache"] == "MISS"  # one render
    with closing(connect(server.layout.database)) as db, db:  # as the worker records it
        db.execute(
            "UPDATE jobs SET state = 'failed', attempts = 3, last_error = ? WHERE image_id = ?",
            ("CLIP weights not found", failing),
        )
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    browser_log_in(page, server, key)
    page.goto(server.url + "/admin/status")
    count = db_row(server, "SELECT count(*) AS n FROM images")
    assert count is not None
    assert page.locator('dd[data-status="Images"]').inner_text() == f"{count['n']:,}"
    assert page.locator('dd[data-status="Uptime"]').inner_text().endswith("s")
    with closing(connect(server.layout.database, readonly=True)) as db:
        worker = worker_state(db)  # whatever the worker said (or that it is silent)
    assert page.locator('dd[data-status="worker"]').inner_text().startswith(worker["state"])
    assert page.locator('dd[data-jobs="failed"]').inner_text() == "1"
    error_row = page.locator("tr", has=page.locator(f'a[href="/admin/images/{failing}"]'))
    assert "CLIP weights not found" in error_row.inner_text()
    assert re.fullmatch(r"\d+ ms", page.locator('dd[data-latency="p99"]').inner_text())
    not_found = page.locator("h4:text-is('404') + table")
    assert "127.0.0.1" in not_found.inner_text()
    screenshot(page, "status")
    page.close()

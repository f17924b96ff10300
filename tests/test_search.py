"""Full-text search: FTS5 kept in sync by triggers, bm25 column weights, hostile query
strings, and the hybrid (reciprocal-rank fusion) merge.  HTTP tests are at the end."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from indexer.annotations import Edit, apply_edit
from indexer.catalog import ImageRecord, delete_image, insert_image
from indexer.config import AISettings
from indexer.db import open_database, transaction
from indexer.errors import BadRequest
from indexer.layout import DataLayout
from indexer.search import (
    Hit,
    exact_tag_matches,
    fts_query,
    hybrid,
    normalize_tag,
    reciprocal_rank_fusion,
    text_search,
    words,
)
from indexer.searching import SearchQuery, found_images, make_query, run_search
from tests.api_support import Api, first_run_key, jpeg_bytes, run_pictor
from tests.conftest import start_server


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    with closing(open_database(tmp_path / "pictor.db")) as connection:
        yield connection


def add(
    connection: sqlite3.Connection, name: str, *, tags: tuple[str, ...] = (), **text: str
) -> str:
    image_id = name.encode().hex()[:20].ljust(20, "0")
    record = ImageRecord(
        id=image_id,
        sha256=image_id * 3,
        bytes=1,
        width=1,
        height=1,
        format="jpeg",
        has_alpha=False,
        filename=text.pop("filename", f"{name}.jpg"),
        **text,
    )
    insert_image(connection, record)
    if tags:
        apply_edit(connection, image_id, Edit(tags=tags))
    return image_id


def ids(hits: list[Hit]) -> list[str]:
    return [hit.image_id for hit in hits]


def check_index(connection: sqlite3.Connection) -> None:
    connection.execute("INSERT INTO images_fts (images_fts) VALUES ('integrity-check')")


# ---------------------------------------------------------------- query building


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sunset beach", [("sunset", False), ("beach", False)]),
        ("flow*", [("flow", True)]),
        (
            '"quoted" AND (x OR y)',
            [("quoted", False), ("AND", False), ("x", False), ("OR", False), ("y", False)],
        ),
        (
            "title:cat -dog ^bird",
            [("title", False), ("cat", False), ("dog", False), ("bird", False)],
        ),
        ("Café ñandú", [("Café", False), ("ñandú", False)]),
        ("Cafe\u0301", [("Café", False)]),  # decomposed accent is composed first
        ("東京タワー", [("東京タワー", False)]),
        ("___ ... !!! 🌅", []),
        ("* ** *x", [("x", False)]),
    ],
)
def test_words_are_cut_from_any_input(text: str, expected: list[tuple[str, bool]]) -> None:
    assert words(text) == expected


def test_queries_are_bounded() -> None:
    assert len(words("word " * 100)) == 16
    assert len(words("x" * 1000)[0][0]) == 64


@pytest.mark.parametrize("text", ["", "   ", "\x00", "!!!", "*", '"', "🌅🌅", "___"])
def test_nothing_searchable_is_a_bad_request(text: str) -> None:
    with pytest.raises(BadRequest, match="at least one word"):
        fts_query(text)


# ---------------------------------------------------------------- ranking and sync


def test_bm25_ranks_tags_over_alt_over_the_rest(db: sqlite3.Connection) -> None:
    in_filename = add(db, "f", filename="sunset-0001.jpg")
    in_description = add(db, "d", description="We stayed until the sunset was over")
    in_title = add(db, "t", title="Sunset")
    in_alt = add(db, "a", alt="A sunset over the sea")
    in_tags = add(db, "g", tags=("sunset",))
    add(db, "n", title="Sunrise", tags=("beach",))
    hits = text_search(db, "sunset", 10)
    assert ids(hits)[:3] == [in_tags, in_alt, in_title]
    assert set(ids(hits)[3:]) == {in_description, in_filename}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert ids(text_search(db, "sunset", 2)) == [in_tags, in_alt]


def test_diacritics_stemming_prefixes_and_unicode(db: sqlite3.Connection) -> None:
    cafe = add(db, "c", title="Café de Flore")
    runner = add(db, "r", alt="A woman running along the river")
    flowers = add(db, "f", tags=("flowers", "meadow"))
    tokyo = add(db, "t", title="東京タワー at night")
    assert ids(text_search(db, "cafe", 10)) == [cafe]
    assert ids(text_search(db, "CAFÉ", 10)) == [cafe]
    assert ids(text_search(db, "runs", 10)) == [runner]  # porter: run
    assert ids(text_search(db, "flow*", 10)) == [flowers]
    assert ids(text_search(db, "flow", 10)) == []  # no prefix without the star
    assert ids(text_search(db, "東京タワー", 10)) == [tokyo]
    assert ids(text_search(db, "woman river", 10)) == [runner]  # words are ANDed
    assert ids(text_search(db, "woman meadow", 10)) == []


def test_index_follows_edits_tags_and_deletes(db: sqlite3.Connection) -> None:
    image = add(db, "x", title="Old harbour", tags=("boat",))
    assert ids(text_search(db, "boat", 10)) == [image]
    apply_edit(db, image, Edit(title="New lighthouse", tags=("lighthouse", "coast")))
    assert ids(text_search(db, "harbour", 10)) == []
    assert ids(text_search(db, "boat", 10)) == []
    assert ids(text_search(db, "coast", 10)) == [image]
    with transaction(db):  # an AI tag, as the worker writes it
        db.execute(
            "INSERT INTO tags (image_id, tag, source, score) VALUES (?, 'red sky', 'ai', 0.3)",
            (image,),
        )
    assert ids(text_search(db, "red sky", 10)) == [image]
    with transaction(db):
        db.execute(
            "UPDATE tags SET tag = 'grey sky' WHERE image_id = ? AND tag = 'red sky'", (image,)
        )
    assert ids(text_search(db, "red", 10)) == []
    assert ids(text_search(db, "grey", 10)) == [image]
    check_index(db)
    with transaction(db):
        db.execute("DELETE FROM images WHERE id = ?", (image,))
    assert ids(text_search(db, "lighthouse", 10)) == []
    assert db.execute("SELECT count(*) FROM search_documents").fetchone()[0] == 0
    check_index(db)


# (input, what it finds): True = the sunset image, False = nothing, None = 400 (no word).
HOSTILE = [
    ('"', None),
    ('""', None),
    ("'", None),
    ("*", None),
    ("()", None),
    ('sunset"', True),
    ('"sunset', True),
    ("'sunset'", True),
    ("(sunset", True),
    ("sunset)", True),
    ("-sunset", True),
    ("+sunset", True),
    ("^sunset", True),
    ("sunset\\", True),
    ("%sunset%", True),
    ("sunset*", True),
    ("*sunset", True),
    ("sunset AND", False),
    ("AND", False),
    ("OR", False),
    ("NOT sunset", False),
    ("NEAR(sunset beach, 2)", False),
    ("sun*set", False),
    ("title:sunset", False),
    ("{title}: sunset", False),
    ("'; DROP TABLE images;--", False),
    ("sunset\x00beach", True),
    ("sunset\nbeach", True),
    ("🌅 sunset", True),
    ("s" * 5000, False),
    ("sunset " * 200, True),
    ("\u202esunset", True),
    ("sunset\u0301", True),
    ("sunset_beach", False),
]


@pytest.mark.parametrize(("text", "finds"), HOSTILE)
def test_hostile_queries_never_break_the_syntax(
    db: sqlite3.Connection, text: str, finds: bool | None
) -> None:
    sunset = add(db, "s", tags=("sunset",), title="Beach")
    if finds is None:
        with pytest.raises(BadRequest):
            text_search(db, text, 10)
        return
    hits = text_search(db, text, 10)  # never sqlite3.OperationalError
    assert ids(hits) == ([sunset] if finds else [])
    assert db.execute("SELECT count(*) FROM images").fetchone()[0] == 1


def test_exact_tag_matches_put_human_tags_first(db: sqlite3.Connection) -> None:
    human = add(db, "h", tags=("red sky",))
    ai_low, ai_high = add(db, "l"), add(db, "i")
    with transaction(db):
        db.executemany(
            "INSERT INTO tags (image_id, tag, source, score) VALUES (?, 'red sky', 'ai', ?)",
            [(ai_low, 0.21), (ai_high, 0.31)],
        )
    assert exact_tag_matches(db, "  Red   SKY ", 10) == [human, ai_high, ai_low]
    assert exact_tag_matches(db, "red", 10) == []


# ---------------------------------------------------------------- hybrid merge


def test_reciprocal_rank_fusion_adds_reciprocal_ranks() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], k=1)
    assert [(h.image_id, round(h.score, 4)) for h in fused] == [
        ("a", round(1 / 2 + 1 / 3, 4)),
        ("c", round(1 / 4 + 1 / 2, 4)),
        ("b", round(1 / 3, 4)),
    ]


@pytest.mark.parametrize(
    ("text", "semantic", "exact", "limit", "expected"),
    [
        (["a", "b"], ["c", "d"], [], 10, ["a", "c", "b", "d"]),  # ties: alphabetical
        (["a", "b"], ["b", "a"], [], 10, ["a", "b"]),
        (["a", "b", "c"], ["b", "c"], [], 10, ["b", "c", "a"]),  # both lists beat one
        (["a", "b"], ["c"], ["d", "b"], 10, ["b", "d", "a", "c"]),  # exact tags first
        (["a", "b"], ["c", "d"], [], 3, ["a", "c", "b"]),
        ([], [], [], 10, []),
        ([], ["x", "y"], [], 10, ["x", "y"]),  # semantic only (no word matched)
    ],
)
def test_hybrid_puts_exact_tag_matches_first_then_fuses(
    text: list[str], semantic: list[str], exact: list[str], limit: int, expected: list[str]
) -> None:
    merged = hybrid([Hit(i, 1.0) for i in text], [Hit(i, 0.5) for i in semantic], exact, limit)
    assert ids(merged) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("  Red   Sky ", "red sky"), ("CAFÉ", "café"), ("a\tb\nc", "a b c"), ("", "")],
)
def test_normalize_tag_folds_case_and_spaces(text: str, expected: str) -> None:
    assert normalize_tag(text) == expected


@pytest.mark.parametrize(
    ("text", "mode", "message"),
    [
        ("sunset", "magic", "invalid mode 'magic'"),
        ("   ", "text", "q: give some text"),
        ("x" * 501, "hybrid", "longer than 500"),
    ],
)
def test_make_query_names_the_problem(text: str, mode: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        make_query(text, mode, 10)


def test_run_search_ranks_text_and_rejects_a_hand_built_bad_mode(
    db: sqlite3.Connection, tmp_path: Path
) -> None:
    layout, ai = DataLayout.at(tmp_path / "data"), AISettings()
    tagged = add(db, "tagged", tags=("sunset",))
    titled = add(db, "titled", title="Sunset")
    assert make_query("  sunset ", "text", 5) == SearchQuery("sunset", "text", 5)
    hits, notice = run_search(db, layout, ai, make_query("sunset", "text", 5))
    assert (ids(hits), notice) == ([tagged, titled], None)
    with pytest.raises(BadRequest, match="invalid mode"):
        run_search(db, layout, ai, SearchQuery("sunset", "fuzzy", 5))


def test_found_images_keeps_rank_order_and_skips_deleted_ids(db: sqlite3.Connection) -> None:
    first = add(db, "first", tags=("sea", "sky"))
    gone = add(db, "gone")
    last = add(db, "last", title="Last")
    assert delete_image(db, gone)
    found = found_images(db, [Hit(last, 3.0), Hit(gone, 2.0), Hit(first, 1.0)])
    assert [(f.record.id, f.hit.score) for f in found] == [(last, 3.0), (first, 1.0)]
    assert [f.record.title for f in found] == ["Last", ""]
    assert [sorted(t.tag for t in f.tags) for f in found] == [[], ["sea", "sky"]]


# ---------------------------------------------------------------- over HTTP (no AI worker)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, dict[str, str]]]:
    """One server with three tagged uploads; the tests only read."""
    server = start_server(tmp_path_factory.mktemp("search-api"), nginx=False)
    client = Api(server, first_run_key(server))
    uploads = {
        "tagged": client.upload(jpeg_bytes(0), "a.jpg", tags="sunset,beach", title="Evening"),
        "alt": client.upload(jpeg_bytes(1), "b.jpg", alt="A sunset over the harbour"),
        "café": client.upload(jpeg_bytes(2), "sunset-file.jpg", title="Café terrace"),
    }
    assert all(r.status_code == 201 for r in uploads.values()), [r.text for r in uploads.values()]
    try:
        yield client, {name: r.json()["id"] for name, r in uploads.items()}
    finally:
        server.stop()


def test_text_search_over_http_ranks_and_presents_images(api: tuple[Api, dict[str, str]]) -> None:
    client, ids = api
    reader = client.key("search-reader", "read")
    with client.client(reader) as http:
        response = http.get("/api/search", params={"q": "sunset"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["query"], body["mode"]) == ("sunset", "text")
        found = [r["id"] for r in body["results"]]
        assert found == [ids["tagged"], ids["alt"], ids["café"]]  # tags > alt > file name
        first = body["results"][0]
        assert first["score"] > body["results"][1]["score"] > 0
        assert {t["tag"] for t in first["tags"]} == {"sunset", "beach"}
        assert first["urls"]["presets"]["thumb"].endswith(f"/img/thumb/{ids['tagged']}")
        cafe = http.get("/api/search", params={"q": "CAFE", "limit": "1"}).json()["results"]
        assert [r["id"] for r in cafe] == [ids["café"]]
        assert http.get("/api/search", params={"q": "sun*"}).json()["results"]
    with client.server.client() as anonymous:
        assert anonymous.get("/api/search", params={"q": "sunset"}).status_code == 401


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "q: give some text"),
        ({"q": "   "}, "q: give some text"),
        ({"q": "!!!"}, "at least one word"),
        ({"q": "x" * 501}, "longer than 500"),
        ({"q": "sunset", "mode": "magic"}, "invalid mode"),
        ({"q": "sunset", "limit": "0"}, "invalid limit"),
        ({"q": "sunset", "limit": "101"}, "invalid limit"),
        ({"q": "sunset", "limit": "ten"}, "invalid limit"),
        ({"q": "sunset", "sort": "new"}, "unknown query parameter 'sort'"),
    ],
)
def test_bad_search_requests_are_400(
    api: tuple[Api, dict[str, str]], params: dict[str, str], message: str
) -> None:
    with api[0].client() as http:
        response = http.get("/api/search", params=params)
        assert response.status_code == 400, response.text
        assert message in response.json()["error"]


@pytest.mark.parametrize("text", [text for text, _ in HOSTILE if len(text) <= 500])
def test_hostile_queries_over_http_are_never_5xx(
    api: tuple[Api, dict[str, str]], text: str
) -> None:
    with api[0].client() as http:
        response = http.get("/api/search", params={"q": text})
        assert response.status_code in (200, 400), response.text


def test_without_the_worker_semantic_is_503_and_hybrid_degrades(
    api: tuple[Api, dict[str, str]],
) -> None:
    client, ids = api
    with client.client() as http:
        semantic = http.get("/api/search", params={"q": "sunset", "mode": "semantic"})
        assert semantic.status_code == 503
        assert "AI worker" in semantic.json()["error"]
        assert "ai.enabled is false" in semantic.json()["error"]  # the reason, not a shrug
        similar = http.get(f"/api/images/{ids['tagged']}/similar")
        assert similar.status_code == 503
        assert http.get(f"/api/images/{'0' * 20}/similar").status_code == 404
        assert http.get("/api/images/nothex/similar").status_code == 404
        hybrid_response = http.get("/api/search", params={"q": "sunset", "mode": "hybrid"})
        assert hybrid_response.status_code == 200
        body = hybrid_response.json()
        assert "text results only" in body["notice"]
        assert body["results"][0]["id"] == ids["tagged"]  # exact tag first
        status = http.get("/api/status").json()["ai"]
        assert status["state"] == "unavailable" and status["detail"] == "ai.enabled is false"
        assert status["jobs"]["pending"] == 3  # queued for when AI is on
    jobs_output = run_pictor(client.server, "jobs").stdout
    assert "worker: unavailable (ai.enabled is false)" in jobs_output
    assert "pending 3" in jobs_output
    logged = client.server.logs()
    assert logged.count("AI tagging and semantic search are off: ai.enabled is false") == 1


def test_pictor_search_cli(api: tuple[Api, dict[str, str]]) -> None:
    client, ids = api
    result = run_pictor(client.server, "search", "sunset", "--json")
    assert result.returncode == 0, result.stderr
    found = [row["id"] for row in json.loads(result.stdout)["results"]]
    assert found == [ids["tagged"], ids["alt"], ids["café"]]
    plain = run_pictor(client.server, "search", "harbour")
    assert plain.returncode == 0 and plain.stdout.startswith(ids["alt"])
    semantic = run_pictor(client.server, "search", "sunset", "--mode", "semantic")
    assert semantic.returncode == 1 and "AI worker" in semantic.stderr
    hybrid_run = run_pictor(client.server, "search", "sunset", "--mode", "hybrid", "--json")
    assert hybrid_run.returncode == 0 and "text results only" in hybrid_run.stderr
    empty = run_pictor(client.server, "search", "!!!")
    assert empty.returncode == 1 and "at least one word" in empty.stderr


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("sunset", "text"),
        ("sun*", "text"),
        ("CAFE", "text"),
        ("harbour sunset", "text"),
        ("sunset", "hybrid"),  # degraded to text + exact tags: no worker here
        ("beach", "hybrid"),
    ],
)
def test_cli_and_api_rank_the_same_ids(
    api: tuple[Api, dict[str, str]], text: str, mode: str
) -> None:
    client, _ = api
    with client.client() as http:
        response = http.get("/api/search", params={"q": text, "mode": mode})
    assert response.status_code == 200, response.text
    result = run_pictor(client.server, "search", text, "--mode", mode, "--json")
    assert result.returncode == 0, result.stderr
    from_api = [(r["id"], r["score"]) for r in response.json()["results"]]
    from_cli = [(r["id"], r["score"]) for r in json.loads(result.stdout)["results"]]
    assert from_api, "the query must find something, or the comparison proves nothing"
    assert [i for i, _ in from_cli] == [i for i, _ in from_api]
    assert [s for _, s in from_cli] == pytest.approx([s for _, s in from_api])

"""Near-duplicates: hashes, lookup, the upload check, clusters and their actions.

Edited copies of real corpus photos (resized, recompressed, 5 % cropped, brightened)
must match their original and nothing else.  HTTP endpoints are tested against a real
``pictor serve`` at the end of the file.
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from indexer import hash_index
from indexer.clusters import UnionFind, find_clusters
from indexer.config import IngestSettings, Settings
from indexer.db import open_database, transaction
from indexer.duplicates import near_duplicates
from indexer.errors import BadRequest, Conflict, NotFound
from indexer.hash_index import HashIndex, close_pairs, index_for
from indexer.hashes import distance, oriented_hashes, perceptual_hashes, to_signed
from indexer.ingest import Upload, ingest
from indexer.layout import DataLayout
from indexer.resolve import dismiss, keep_one
from tests.api_support import Api, first_run_key, run_pictor
from tests.conftest import CORPUS, ServerFactory, make_settings, start_server

Edit = Callable[[Image.Image], Image.Image]
WORK_EDGE = 1600  # corpus photos are shrunk once to this long edge to keep tests quick


def _jpeg(picture: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _crop(picture: Image.Image, fraction: float) -> Image.Image:
    dx, dy = int(picture.width * fraction / 2), int(picture.height * fraction / 2)
    return picture.crop((dx, dy, picture.width - dx, picture.height - dy))


EDITS: dict[str, Edit] = {
    "resized to 25%": lambda p: p.resize((p.width // 4, p.height // 4), Image.Resampling.LANCZOS),
    "recompressed q20": lambda p: _jpeg(p, 20),
    "cropped 5%": lambda p: _crop(p, 0.05),
    "cropped 5% on one side": lambda p: p.crop((int(p.width * 0.05), 0, p.width, p.height)),
    "brightened 30%": lambda p: ImageEnhance.Brightness(p).enhance(1.3),
    "all at once": lambda p: _jpeg(ImageEnhance.Brightness(_crop(p, 0.05)).enhance(1.2), 60),
}
PHOTOS = sorted(path.name for path in CORPUS.glob("*"))


def _load(name: str) -> Image.Image:
    picture = ImageOps.exif_transpose(Image.open(CORPUS / name)).convert("RGB")
    picture.thumbnail((WORK_EDGE, WORK_EDGE))
    return picture


@pytest.fixture(scope="module")
def pictures() -> dict[str, Image.Image]:
    if not PHOTOS:
        pytest.fail(f"the photo corpus at {CORPUS} is missing")
    return {name: _load(name) for name in PHOTOS}


@pytest.fixture(scope="module")
def corpus_hashes(pictures: dict[str, Image.Image]) -> dict[str, tuple[int, int]]:
    return {name: _pair(picture) for name, picture in pictures.items()}


def _pair(picture: Image.Image) -> tuple[int, int]:
    hashes = perceptual_hashes(picture)
    return hashes.phash, hashes.dhash


# ---------------------------------------------------------------- pure hash logic


@pytest.mark.parametrize(
    ("bits", "expected"),
    [
        ([0] * 64, 0),
        ([1] * 64, -1),
        ([0] + [1] * 63, 2**63 - 1),
        ([1] + [0] * 63, -(2**63)),
        ([0] * 63 + [1], 1),
    ],
)
def test_bits_pack_into_a_signed_64_bit_integer(bits: list[int], expected: int) -> None:
    assert to_signed(np.array(bits, dtype=bool).reshape(8, 8)) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [(0, 0, 0), (0, -1, 64), (1, 3, 1), (-(2**63), 2**63 - 1, 64), (-1, -2, 1), (5, 5, 0)],
)
def test_hamming_distance_of_signed_hashes(a: int, b: int, expected: int) -> None:
    assert distance(a, b) == expected


def test_union_find_joins_transitively() -> None:
    groups = UnionFind()
    for a, b in [(1, 2), (3, 4), (2, 3), (7, 8)]:
        groups.union(a, b)
    assert sorted(groups.groups()) == [[1, 2, 3, 4], [7, 8]]


def test_close_pairs_scans_the_upper_triangle_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("indexer.hash_index._BLOCK_ELEMENTS", 8)  # force many small blocks
    base = np.array([0, 0b1111, 0, -1, 0b111], np.int64)
    pairs = close_pairs(base, base, 3, 3)
    assert sorted((p.a, p.b, p.distance) for p in pairs) == [
        (0, 2, 0),
        (0, 4, 3),
        (1, 4, 1),
        (2, 4, 3),
    ]


def test_search_takes_the_best_orientation_and_sorts_nearest_first() -> None:
    index = HashIndex()
    index.load_arrays(
        ["far", "near", "exact"], np.array([-1, 0b11, 0], np.int64), np.array([0, 0, 0], np.int64)
    )
    matches = index.search([(0b1111 << 8, 0), (0, 0)], 4, 0)
    assert [(m.image_id, m.phash_distance) for m in matches] == [("exact", 0), ("near", 2)]


# ---------------------------------------------------------------- calibration on the corpus


@pytest.mark.parametrize("edit", sorted(EDITS))
@pytest.mark.parametrize("name", PHOTOS)
def test_edited_copy_matches_its_original(
    name: str,
    edit: str,
    pictures: dict[str, Image.Image],
    corpus_hashes: dict[str, tuple[int, int]],
) -> None:
    settings = IngestSettings()
    phash, dhash = corpus_hashes[name]
    copy_phash, copy_dhash = _pair(EDITS[edit](pictures[name]))
    assert distance(phash, copy_phash) <= settings.near_duplicate_threshold
    assert distance(dhash, copy_dhash) <= settings.near_duplicate_dhash_threshold


def test_different_corpus_photos_never_match(corpus_hashes: dict[str, tuple[int, int]]) -> None:
    settings = IngestSettings()
    names = sorted(corpus_hashes)
    index = HashIndex()
    index.load_arrays(
        names,
        np.array([corpus_hashes[n][0] for n in names], np.int64),
        np.array([corpus_hashes[n][1] for n in names], np.int64),
    )
    for name in names:
        matches = index.search(
            [corpus_hashes[name]],
            settings.near_duplicate_threshold,
            settings.near_duplicate_dhash_threshold,
        )
        assert [m.image_id for m in matches] == [name]
    closest = min(
        distance(corpus_hashes[a][0], corpus_hashes[b][0]) for a in names for b in names if a < b
    )
    assert closest > settings.near_duplicate_threshold + 4  # a real margin, not luck


def test_rotated_copy_matches_only_through_the_orientations(
    pictures: dict[str, Image.Image],
) -> None:
    picture = pictures["Dune.jpg"]
    original = perceptual_hashes(picture)
    rotated = picture.transpose(Image.Transpose.ROTATE_90)
    rotated_hashes = oriented_hashes(rotated)
    assert distance(rotated_hashes[0].phash, original.phash) > 10
    best = min(distance(h.phash, original.phash) for h in rotated_hashes)
    assert best <= 2


# ---------------------------------------------------------------- ingest and lookup


def _save(picture: Image.Image, path: Path, quality: int = 90) -> Path:
    picture.save(path, "JPEG", quality=quality)
    return path


@pytest.fixture
def library(tmp_path: Path) -> Iterator[tuple[sqlite3.Connection, DataLayout, Settings]]:
    settings = make_settings(tmp_path / "data")
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    with closing(open_database(layout.database)) as connection:
        yield connection, layout, settings


def _ingest(
    library: tuple[sqlite3.Connection, DataLayout, Settings],
    picture: Image.Image,
    filename: str,
    settings: Settings | None = None,
    **fields: str,
) -> str:
    connection, layout, default = library
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90)
    upload = Upload(data=buffer.getvalue(), filename=filename, **fields)
    return ingest(connection, layout, settings or default, upload).id


def test_ingest_stores_hashes_and_lookup_finds_edited_copies(
    library: tuple[sqlite3.Connection, DataLayout, Settings], pictures: dict[str, Image.Image]
) -> None:
    connection = library[0]
    original = _ingest(library, pictures["Storm.jpg"], "storm.jpg")
    copies = [
        _ingest(library, EDITS[edit](pictures["Storm.jpg"]), f"{edit}.jpg")
        for edit in ("resized to 25%", "cropped 5%", "brightened 30%")
    ]
    others = [_ingest(library, pictures[name], name) for name in ("Dune.jpg", "LadyBird.jpg")]
    row = connection.execute("SELECT phash, dhash FROM images WHERE id = ?", (original,)).fetchone()
    assert (row[0], row[1]) == _pair(_decoded_like_ingest(pictures["Storm.jpg"]))

    found = near_duplicates(connection, original)
    assert sorted(d.id for d in found) == sorted(copies)
    assert all(d.distance <= 10 for d in found)
    assert [d.distance for d in found] == sorted(d.distance for d in found)
    for other in others:
        assert near_duplicates(connection, other) == []
    assert near_duplicates(connection, "0" * 20) == []


def _decoded_like_ingest(picture: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def test_rejecting_near_duplicates_is_a_conflict_naming_the_original(
    library: tuple[sqlite3.Connection, DataLayout, Settings], pictures: dict[str, Image.Image]
) -> None:
    connection, layout, settings = library
    strict = settings.model_copy(
        update={"ingest": settings.ingest.model_copy(update={"reject_near_duplicates": True})}
    )
    original = _ingest(library, pictures["FreshFlower.jpg"], "flower.jpg", strict)
    with pytest.raises(Conflict) as raised:
        _ingest(library, EDITS["all at once"](pictures["FreshFlower.jpg"]), "copy.jpg", strict)
    assert raised.value.existing_id == original
    assert "near-duplicate" in raised.value.public
    count = connection.execute("SELECT count(*) FROM images").fetchone()[0]
    assert count == 1
    originals = [p for p in layout.originals.rglob("*") if p.is_file()]
    assert len(originals) == 1  # nothing of the rejected upload was stored
    # A different photo is still welcome.
    _ingest(library, pictures["Dune.jpg"], "dune.jpg", strict)


def test_rotated_upload_is_rejected_only_with_orientations_on(
    library: tuple[sqlite3.Connection, DataLayout, Settings], pictures: dict[str, Image.Image]
) -> None:
    settings = library[2]

    def strict(orientations: bool) -> Settings:
        ingest_settings = settings.ingest.model_copy(
            update={"reject_near_duplicates": True, "near_duplicate_orientations": orientations}
        )
        return settings.model_copy(update={"ingest": ingest_settings})

    original = _ingest(library, pictures["YellowFlower.jpg"], "y.jpg", strict(False))
    mirrored = pictures["YellowFlower.jpg"].transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    with pytest.raises(Conflict) as raised:
        _ingest(library, mirrored, "mirror.jpg", strict(True))
    assert raised.value.existing_id == original
    _ingest(library, mirrored, "mirror.jpg", strict(False))  # upright hashes differ


def test_index_follows_inserts_and_deletes_across_connections(
    library: tuple[sqlite3.Connection, DataLayout, Settings], pictures: dict[str, Image.Image]
) -> None:
    connection, layout, _ = library
    first = _ingest(library, pictures["Bridge_by_Sander_Klootwijk.jpg"], "bridge.jpg")
    assert index_for(connection).ids == [first]
    with closing(open_database(layout.database)) as other:  # another process's view
        second = _ingest((other, layout, library[2]), pictures["goldfish.png"], "fish.jpg")
        assert index_for(connection).ids == [first, second]
        with transaction(other):
            other.execute("DELETE FROM images WHERE id = ?", (first,))
    assert index_for(connection).ids == [second]


# ---------------------------------------------------------------- clusters and actions


@pytest.fixture
def clustered(
    library: tuple[sqlite3.Connection, DataLayout, Settings], pictures: dict[str, Image.Image]
) -> dict[str, str]:
    """Wine: original (large), a small copy, a brightened copy; Stripes: two copies;
    Dune alone."""
    wine = pictures["Wine_by_Jakkub_Mede.jpg"]
    stripes = pictures["Stripes.png"]
    return {
        "wine_small": _ingest(
            library,
            EDITS["resized to 25%"](wine),
            "wine-small.jpg",
            title="Wine",
            alt="Two glasses of red wine",
        ),
        "wine": _ingest(library, wine, "wine.jpg"),
        "wine_bright": _ingest(library, EDITS["brightened 30%"](wine), "wine-bright.jpg"),
        "stripes": _ingest(library, stripes, "stripes.jpg"),
        "stripes_crop": _ingest(library, EDITS["cropped 5%"](stripes), "stripes-crop.jpg"),
        "dune": _ingest(library, pictures["Dune.jpg"], "dune.jpg"),
    }


def test_clusters_group_copies_and_suggest_the_biggest_as_keeper(
    library: tuple[sqlite3.Connection, DataLayout, Settings], clustered: dict[str, str]
) -> None:
    connection, _, settings = library
    clusters = find_clusters(connection, settings.ingest)
    assert len(clusters) == 2
    wine, stripes = clusters
    assert {m.id for m in wine.members} == {
        clustered[k] for k in ("wine", "wine_small", "wine_bright")
    }
    assert wine.members[0].id == wine.keeper
    # Same pixels for original and brightened copy: the bigger file is the keeper.
    full = [
        m
        for m in wine.members
        if m.width * m.height == max(x.width * x.height for x in wine.members)
    ]
    assert wine.keeper == max(full, key=lambda m: m.bytes).id
    small = next(m for m in wine.members if m.id == clustered["wine_small"])
    assert small.metadata == 2  # title and alt
    assert {m.id for m in stripes.members} == {clustered["stripes"], clustered["stripes_crop"]}
    assert stripes.keeper == clustered["stripes"]  # the uncropped one has more pixels
    strict = find_clusters(connection, settings.ingest, threshold=0)  # pHash-identical only
    assert clustered["stripes_crop"] not in {m.id for c in strict for m in c.members}


def test_dismissed_cluster_is_never_proposed_again(
    library: tuple[sqlite3.Connection, DataLayout, Settings], clustered: dict[str, str]
) -> None:
    connection, _, settings = library
    assert dismiss(connection, [clustered["stripes"], clustered["stripes_crop"]]) == 1
    clusters = find_clusters(connection, settings.ingest)
    assert [len(c.members) for c in clusters] == [3]
    assert clustered["stripes_crop"] not in {
        d.id for d in near_duplicates(connection, clustered["stripes"])
    }
    assert near_duplicates(connection, clustered["wine"])  # other pairs unaffected


def test_keep_one_merges_tags_and_text_then_deletes_the_rest(
    library: tuple[sqlite3.Connection, DataLayout, Settings], clustered: dict[str, str]
) -> None:
    connection, layout, _ = library
    keeper, small, bright = clustered["wine"], clustered["wine_small"], clustered["wine_bright"]
    with transaction(connection):
        connection.executemany(
            "INSERT INTO tags (image_id, tag, source, score) VALUES (?, ?, ?, ?)",
            [
                (keeper, "wine", "ai", 0.3),
                (keeper, "glass", "ai", 0.25),
                (small, "wine", "human", None),
                (bright, "glass", "ai", 0.4),
                (bright, "dinner", "ai", 0.28),
            ],
        )
    result = keep_one(connection, layout, keeper, [small, bright, keeper])
    assert result.removed == (small, bright)
    tags = {
        row[0]: (row[1], row[2])
        for row in connection.execute(
            "SELECT tag, source, score FROM tags WHERE image_id = ?", (keeper,)
        )
    }
    assert tags == {"wine": ("human", None), "glass": ("ai", 0.4), "dinner": ("ai", 0.28)}
    row = connection.execute("SELECT title, alt FROM images WHERE id = ?", (keeper,)).fetchone()
    assert tuple(row) == ("Wine", "Two glasses of red wine")
    remaining = {r[0] for r in connection.execute("SELECT id FROM images")}
    assert small not in remaining and bright not in remaining and keeper in remaining
    for gone in (small, bright):
        assert not layout.original(gone).exists()
        assert not layout.pyramid_dir(gone).exists()
    assert layout.original(keeper).exists()
    found = connection.execute(
        "SELECT i.id FROM images_fts f JOIN search_documents d ON d.doc_id = f.rowid"
        " JOIN images i ON i.id = d.image_id WHERE images_fts MATCH 'dinner'"
    ).fetchall()
    assert [r[0] for r in found] == [keeper]  # merged tags are searchable


def test_cluster_pairs_are_cached_and_extended_with_new_rows(
    library: tuple[sqlite3.Connection, DataLayout, Settings],
    pictures: dict[str, Image.Image],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection, _, settings = library
    starts: list[int] = []
    real = hash_index.close_pairs

    def recording(*args: Any, start: int = 0) -> list[hash_index.Pair]:
        starts.append(start)
        return real(*args, start=start)

    monkeypatch.setattr(hash_index, "close_pairs", recording)
    dune = pictures["Dune.jpg"]
    first = _ingest(library, dune, "dune.jpg")
    _ingest(library, pictures["Storm.jpg"], "storm.jpg")
    assert find_clusters(connection, settings.ingest) == []
    copy = _ingest(library, EDITS["brightened 30%"](dune), "dune-bright.jpg")
    (cluster,) = find_clusters(connection, settings.ingest)
    assert {m.id for m in cluster.members} == {first, copy}
    assert find_clusters(connection, settings.ingest) == [cluster]  # cached: no scan
    assert starts == [0, 2]  # the full scan once, then only the new third row
    with transaction(connection):
        connection.execute("DELETE FROM images WHERE id = ?", (copy,))
    assert find_clusters(connection, settings.ingest) == []
    assert starts == [0, 2, 0]  # a deletion means a fresh scan


@pytest.mark.parametrize(
    ("keeper", "remove", "error"),
    [
        ("nothex", ["0" * 20], BadRequest),
        ("a" * 20, ["a" * 20], BadRequest),
        ("a" * 20, [], BadRequest),
        ("a" * 20, ["../../etc/passwd"], BadRequest),
        ("a" * 20, ["b" * 20], NotFound),
    ],
)
def test_keep_one_rejects_bad_requests(
    library: tuple[sqlite3.Connection, DataLayout, Settings],
    keeper: str,
    remove: list[str],
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        keep_one(library[0], library[1], keeper, remove)


@pytest.mark.parametrize(
    ("ids", "error"),
    [([], BadRequest), (["a" * 20] * 2, BadRequest), (["a" * 20, "b" * 20], NotFound)],
)
def test_dismiss_rejects_bad_requests(
    library: tuple[sqlite3.Connection, DataLayout, Settings], ids: list[str], error: type[Exception]
) -> None:
    with pytest.raises(error):
        dismiss(library[0], ids)


# ---------------------------------------------------------------- over HTTP


def _jpeg_bytes(picture: Image.Image, quality: int = 88) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture
def api(serve: ServerFactory) -> Api:
    server = serve(nginx=False)
    return Api(server, first_run_key(server))


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One server for the many small request checks that change nothing."""
    server = start_server(tmp_path_factory.mktemp("dupes-api"), nginx=False)
    try:
        yield Api(server, first_run_key(server))
    finally:
        server.stop()


def _upload(api: Api, data: bytes, name: str, **fields: str) -> str:
    response = api.upload(data, name, **fields)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_upload_and_detail_list_near_duplicates(api: Api, pictures: dict[str, Image.Image]) -> None:
    wine = pictures["Wine_by_Jakkub_Mede.jpg"]
    original = _upload(api, _jpeg_bytes(wine), "wine.jpg")
    other = _upload(api, _jpeg_bytes(pictures["Dune.jpg"]), "dune.jpg")
    response = api.upload(_jpeg_bytes(EDITS["all at once"](wine)), "wine-edit.jpg")
    assert response.status_code == 201
    copy = response.json()
    assert [d["id"] for d in copy["near_duplicates"]] == [original]
    assert 0 <= copy["near_duplicates"][0]["distance"] <= 12
    with api.client() as client:
        detail = client.get(f"/api/images/{original}").json()
        assert [d["id"] for d in detail["near_duplicates"]] == [copy["id"]]
        assert client.get(f"/api/images/{other}").json()["near_duplicates"] == []


def test_near_duplicate_upload_is_409_when_rejecting(
    serve: ServerFactory, pictures: dict[str, Image.Image]
) -> None:
    server = serve(nginx=False, config={"ingest": {"reject_near_duplicates": True}})
    api = Api(server, first_run_key(server))
    flower = pictures["FreshFlower.jpg"]
    original = _upload(api, _jpeg_bytes(flower), "flower.jpg")
    response = api.upload(_jpeg_bytes(EDITS["resized to 25%"](flower), quality=60), "small.jpg")
    assert response.status_code == 409
    body = response.json()
    assert body["id"] == original and "near-duplicate" in body["error"]
    assert api.upload(_jpeg_bytes(pictures["Dune.jpg"]), "dune.jpg").status_code == 201


def test_clusters_and_actions_over_http(api: Api, pictures: dict[str, Image.Image]) -> None:
    wine, stripes = pictures["Wine_by_Jakkub_Mede.jpg"], pictures["Stripes.png"]
    big = _upload(api, _jpeg_bytes(wine), "wine.jpg")
    small = _upload(
        api,
        _jpeg_bytes(EDITS["resized to 25%"](wine)),
        "wine-small.jpg",
        alt="Two glasses of red wine",
        tags="wine,dinner",
    )
    stripes_a = _upload(api, _jpeg_bytes(stripes), "stripes.jpg")
    stripes_b = _upload(api, _jpeg_bytes(EDITS["cropped 5%"](stripes)), "stripes-crop.jpg")
    _upload(api, _jpeg_bytes(pictures["Dune.jpg"]), "dune.jpg")
    reader = api.key("reader", "read")
    with api.client(reader) as client:
        listing = client.get("/api/duplicates")
        assert listing.status_code == 200
        clusters = listing.json()["clusters"]
        assert sorted(sorted(m["id"] for m in c["images"]) for c in clusters) == sorted(
            [sorted([big, small]), sorted([stripes_a, stripes_b])]
        )
        wine_cluster = next(c for c in clusters if big in {m["id"] for m in c["images"]})
        assert wine_cluster["keeper"] == big  # most pixels
        strict = client.get("/api/duplicates?threshold=0").json()
        assert strict["threshold"] == 0
        assert stripes_b not in {m["id"] for c in strict["clusters"] for m in c["images"]}
        refused = client.post("/api/duplicates/keep", json={"keep": big, "remove": [small]})
        assert refused.status_code == 403  # read scope cannot delete
    listed = run_pictor(api.server, "dupes", "--json")
    assert listed.returncode == 0, listed.stderr
    assert sorted(c["keeper"] for c in json.loads(listed.stdout)["clusters"]) == sorted(
        c["keeper"] for c in clusters
    )
    plain = run_pictor(api.server, "dupes", "--threshold", "0")
    assert "cluster(s) at pHash distance <= 0" in plain.stderr
    assert stripes_b not in plain.stdout
    with api.client() as client:
        dismissed = client.post("/api/duplicates/dismiss", json={"ids": [stripes_a, stripes_b]})
        assert dismissed.json() == {"dismissed_pairs": 1}
        remaining = client.get("/api/duplicates").json()["clusters"]
        assert [c["keeper"] for c in remaining] == [big]
        kept = client.post("/api/duplicates/keep", json={"keep": big, "remove": [small]})
        assert kept.status_code == 200, kept.text
        body = kept.json()
        assert body["removed"] == [small]
        assert body["image"]["alt"] == "Two glasses of red wine"
        assert {t["tag"]: t["source"] for t in body["image"]["tags"]} == {
            "wine": "human",
            "dinner": "human",
        }
        assert client.get(f"/api/images/{small}").status_code == 404
        assert client.get(f"/img/_/w_100/{small}.jpg").status_code == 404
        assert client.get(f"/img/_/w_100/{big}.jpg").status_code == 200
        assert client.get("/api/duplicates").json()["clusters"] == []


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/api/duplicates/keep", {"keep": "x", "remove": ["0" * 20]}, 400, "not an image id"),
        ("/api/duplicates/keep", {"keep": "a" * 20}, 400, "remove"),
        ("/api/duplicates/keep", {"keep": 7, "remove": []}, 400, "keep"),
        ("/api/duplicates/keep", {"keep": "a" * 20, "remove": ["b" * 20]}, 404, "does not exist"),
        ("/api/duplicates/keep", {"keep": "a" * 20, "remove": [], "x": 1}, 400, "unknown field"),
        ("/api/duplicates/keep", [1, 2], 400, "JSON object"),
        ("/api/duplicates/dismiss", {"ids": ["a" * 20]}, 400, "at least two"),
        ("/api/duplicates/dismiss", {"ids": "ab"}, 400, "list"),
        ("/api/duplicates/dismiss", {"ids": [None, 3]}, 400, "not an image id"),
    ],
)
def test_bad_duplicate_actions_are_4xx_naming_the_problem(
    shared_api: Api, path: str, body: object, status: int, message: str
) -> None:
    with shared_api.client() as client:
        response = client.post(path, json=body)
        assert response.status_code == status, response.text
        assert message in response.json()["error"]


@pytest.mark.parametrize("query", ["threshold=65", "threshold=-1", "threshold=x", "limit=3"])
def test_bad_duplicate_listing_queries_are_400(shared_api: Api, query: str) -> None:
    with shared_api.client() as client:
        response = client.get(f"/api/duplicates?{query}")
        assert response.status_code == 400
        assert query.split("=")[0] in response.json()["error"]

"""The job queue and the worker: ingest → job → embedding, AI tags, alt-text draft →
full-text search finds the tag.  The tiny random model gives arbitrary tags, so the
tests assert the mechanics (stored, sourced ``ai``, scores, thresholds, human tags and
human text kept), not the semantics.  ``pictor serve`` end to end is at the end."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexer import jobs
from indexer.annotations import Edit, apply_edit
from indexer.config import Settings
from indexer.db import open_database, transaction
from indexer.drafts import field_sources
from indexer.embeddings import from_blob
from indexer.layout import DataLayout
from indexer.search import text_search
from indexer.worker import Engine, Worker
from tests.api_support import Api, first_run_key, jpeg_bytes, run_pictor
from tests.clip_support import save_tiny_model
from tests.conftest import ServerFactory, ingest_paths, make_settings, photo
from tests.processes import cmdline, descendants

PHOTOS = ["LadyBird.jpg", "goldfish.png", "Dune.jpg"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return save_tiny_model(tmp_path_factory.mktemp("clip"))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    with closing(open_database(tmp_path / "pictor.db")) as connection:
        yield connection


def add_image(connection: sqlite3.Connection, image_id: str) -> None:
    with transaction(connection):
        connection.execute(
            "INSERT INTO images (id, sha256, bytes, width, height, format)"
            " VALUES (?, ?, 1, 1, 1, 'jpeg')",
            (image_id, image_id * 3),
        )


def job_row(connection: sqlite3.Connection, image_id: str) -> sqlite3.Row:
    row: sqlite3.Row = connection.execute(
        "SELECT * FROM jobs WHERE image_id = ?", (image_id,)
    ).fetchone()
    return row


# ---------------------------------------------------------------- the queue


def test_inserting_an_image_enqueues_its_job(db: sqlite3.Connection) -> None:
    add_image(db, "a" * 20)
    row = job_row(db, "a" * 20)
    assert (row["kind"], row["state"], row["attempts"]) == ("clip", "pending", 0)
    assert jobs.counts(db) == {"pending": 1, "running": 0, "done": 0, "failed": 0}
    with transaction(db):
        db.execute("DELETE FROM images")
    assert jobs.counts(db)["pending"] == 0  # the job goes with its image


def test_claim_takes_due_jobs_oldest_first_once(db: sqlite3.Connection) -> None:
    for letter in "abc":
        add_image(db, letter * 20)
    first = jobs.claim(db, jobs.CLIP, 2, now=100.0)
    assert [j.image_id for j in first] == ["a" * 20, "b" * 20]
    assert all(j.attempts == 1 for j in first)
    second = jobs.claim(db, jobs.CLIP, 10, now=100.0)
    assert [j.image_id for j in second] == ["c" * 20]
    assert jobs.claim(db, jobs.CLIP, 10, now=100.0) == []
    assert jobs.counts(db)["running"] == 3
    assert jobs.requeue_running(db) == 3  # a dead worker's batch
    assert jobs.counts(db)["pending"] == 3


@pytest.mark.parametrize(
    ("max_attempts", "expected_states"),
    [(1, ["failed"]), (3, ["pending", "pending", "failed"])],
)
def test_failures_back_off_exponentially_then_fail(
    db: sqlite3.Connection, max_attempts: int, expected_states: list[str]
) -> None:
    add_image(db, "a" * 20)
    now, states, delays = 1000.0, [], []
    for _ in expected_states:
        (job,) = jobs.claim(db, jobs.CLIP, 1, now=now)
        states.append(jobs.fail(db, job, "boom " * 200, max_attempts, 10.0, now=now))
        row = job_row(db, "a" * 20)
        delays.append(row["run_after"] - now)
        assert jobs.claim(db, jobs.CLIP, 1, now=row["run_after"] - 0.001) == []  # not yet due
        now = row["run_after"]
    assert states == expected_states
    assert delays == [10.0 * 2**i for i in range(len(expected_states))]
    row = job_row(db, "a" * 20)
    assert row["last_error"].startswith("boom") and len(row["last_error"]) == 500
    assert jobs.recent_errors(db)[0]["state"] == expected_states[-1]
    assert jobs.retry_failed(db) == 1
    assert job_row(db, "a" * 20)["state"] == "pending"


def test_enqueue_missing_requeues_images_of_another_model(db: sqlite3.Connection) -> None:
    for letter in "ab":
        add_image(db, letter * 20)
    with transaction(db):
        db.execute("UPDATE jobs SET state = 'done'")
        db.execute(
            "INSERT INTO embeddings (image_id, model, dim, vector) VALUES (?, 'm1', 1, ?)",
            ("a" * 20, np.ones(1, "<f4").tobytes()),
        )
    assert jobs.enqueue_missing(db, "m1") == 1  # b has no embedding at all
    assert job_row(db, "b" * 20)["state"] == "pending"
    assert job_row(db, "a" * 20)["state"] == "done"
    assert jobs.enqueue_missing(db, "m2") == 1  # model changed: a again (b already pending)
    assert jobs.counts(db)["pending"] == 2


def test_worker_state_reports_silence_as_not_running(db: sqlite3.Connection) -> None:
    assert jobs.worker_state(db)["state"] == "not running"
    jobs.report_state(db, jobs.CLIP, "ready", "", "m")
    assert jobs.queue_status(db) == {
        "state": "ready",
        "detail": "",
        "model": "m",
        "jobs": jobs.counts(db),
    }
    with transaction(db):
        db.execute("UPDATE worker_state SET heartbeat = heartbeat - 3600")
    assert jobs.worker_state(db)["state"] == "not running"
    jobs.report_state(db, jobs.CLIP, "unavailable", "no weights")
    with transaction(db):
        db.execute("UPDATE worker_state SET heartbeat = heartbeat - 3600")
    assert jobs.worker_state(db)["detail"] == "no weights"  # still the reason


# ---------------------------------------------------------------- the worker, in process


SMALL_VOCABULARY = """
[category.scene]
role = "scene"
templates = ["a photo of {}.", "a photo taken in {}."]
labels = ["beach", "forest", "kitchen"]

[category.subject]
role = "subject"
templates = ["a photo of {}.", "a close-up photo of {}."]
labels = ["dog", "owl", "bicycle", "flower"]
"""


def settings_with(tmp_path: Path, tiny: dict[str, Any], **ai: Any) -> Settings:
    """Every label passes (threshold -1).  The default small vocabulary has only scenes
    and subjects, so every image gets a draft whatever the random model says."""
    vocabulary = tmp_path / "vocabulary.toml"
    vocabulary.parent.mkdir(parents=True, exist_ok=True)
    vocabulary.write_text(SMALL_VOCABULARY)
    defaults = {"tag_threshold": -1.0, "vocabulary": str(vocabulary)}
    return make_settings(tmp_path / "data", ai={**tiny, **defaults, **ai})


def run_queue(settings: Settings) -> tuple[Worker, Engine, sqlite3.Connection]:
    layout = DataLayout.at(settings.data_dir)
    connection = open_database(layout.database)
    worker = Worker(settings, connection)
    engine = worker.start_engine()
    assert engine is not None, jobs.worker_state(connection)
    while batch := jobs.claim(connection, jobs.CLIP, settings.ai.batch_size):
        worker.process(engine, batch)
    return worker, engine, connection


def ai_tags(connection: sqlite3.Connection, image_id: str) -> list[tuple[str, str, float | None]]:
    rows = connection.execute(
        "SELECT tag, source, score FROM tags WHERE image_id = ? ORDER BY source, tag", (image_id,)
    )
    return [(row[0], row[1], row[2]) for row in rows]


def test_ingest_to_tags_alt_text_and_search(tmp_path: Path, tiny: dict[str, Any]) -> None:
    settings = settings_with(tmp_path, tiny, tag_top_k=5, batch_size=2)
    ids = ingest_paths(settings, [photo(name) for name in PHOTOS])
    ladybird = ids["LadyBird.jpg"]
    layout = DataLayout.at(settings.data_dir)
    with closing(open_database(layout.database)) as setup:
        apply_edit(setup, ladybird, Edit(tags=("my garden",), alt="My own words"))
    _, engine, db = run_queue(settings)
    with closing(db):
        assert jobs.counts(db) == {"pending": 0, "running": 0, "done": 3, "failed": 0}
        for image_id in ids.values():
            row = db.execute(
                "SELECT model, dim, vector FROM embeddings WHERE image_id = ?", (image_id,)
            ).fetchone()
            assert row["model"] == engine.model.identity and row["dim"] == 64
            assert np.isclose(np.linalg.norm(from_blob(row["vector"])), 1.0, atol=1e-5)
            tags = [t for t in ai_tags(db, image_id) if t[1] == "ai"]
            assert len(tags) == 5  # threshold -1: every label passes; top-k keeps 5
            assert all(-1.0 <= t[2] <= 1.0 for t in tags)  # type: ignore[operator]
        assert ("my garden", "human", None) in ai_tags(db, ladybird)
        assert field_sources(db, ladybird)["alt"] == "human"
        assert db.execute("SELECT alt FROM images WHERE id = ?", (ladybird,)).fetchone()[0] == (
            "My own words"
        )
        dune = ids["Dune.jpg"]
        alt, title = db.execute("SELECT alt, title FROM images WHERE id = ?", (dune,)).fetchone()
        assert alt.startswith("A photo of ") and " with " in alt and alt.endswith(".")
        scene, _, subject = title.lower().partition(" with ")
        assert scene in ("beach", "forest", "kitchen") and subject in alt
        assert field_sources(db, dune) == {"title": "ai", "alt": "ai"}
        some_tag = next(t[0] for t in ai_tags(db, dune) if t[1] == "ai")
        assert dune in [hit.image_id for hit in text_search(db, f'"{some_tag}"', 10)]


def test_scores_follow_the_stored_vectors(tmp_path: Path, tiny: dict[str, Any]) -> None:
    """The stored score of each AI tag is the cosine of image and label embeddings,
    and only labels above the threshold are kept."""
    settings = settings_with(tmp_path, tiny, tag_top_k=100, vocabulary=None)  # the shipped one
    ids = ingest_paths(settings, [photo("LadyBird.jpg")])
    _, engine, db = run_queue(settings)
    with closing(db):
        vector = from_blob(db.execute("SELECT vector FROM embeddings").fetchone()[0])
        scores = engine.labels.matrix @ vector
        names = engine.labels.vocabulary.names
        stored = {t[0]: t[2] for t in ai_tags(db, ids["LadyBird.jpg"])}
        assert len(stored) == 100
        for name, score in stored.items():
            assert score == pytest.approx(scores[names.index(name)], abs=1e-4)
        cutoff = float(np.sort(scores)[-60])  # about 60 labels reach it, fewer after offsets
    strict = settings_with(
        tmp_path / "again", tiny, tag_threshold=cutoff, tag_top_k=100, vocabulary=None
    )
    ingest_paths(strict, [photo("LadyBird.jpg")])
    _, _, db = run_queue(strict)
    with closing(db):
        kept = [t[2] for t in ai_tags(db, ids["LadyBird.jpg"])]
        offsets = {label.name: label.offset for label in engine.labels.vocabulary.labels}
        expected = sum(1 for n, s in zip(names, scores, strict=True) if s >= cutoff + offsets[n])
        assert len(kept) == expected and 0 < expected < len(names)
        assert all(score is not None and score >= cutoff for score in kept)


def test_ai_draft_is_replaced_until_an_editor_changes_it(
    tmp_path: Path, tiny: dict[str, Any]
) -> None:
    settings = settings_with(tmp_path, tiny)
    image = ingest_paths(settings, [photo("Storm.jpg")])["Storm.jpg"]
    worker, engine, db = run_queue(settings)
    with closing(db):
        first_alt = db.execute("SELECT alt FROM images WHERE id = ?", (image,)).fetchone()[0]
        assert first_alt and field_sources(db, image)["alt"] == "ai"
        with transaction(db):  # a different draft, as a new model would write
            db.execute("UPDATE ai_drafts SET alt = 'old draft' WHERE image_id = ?", (image,))
            db.execute("UPDATE images SET alt = 'old draft' WHERE id = ?", (image,))
            db.execute("UPDATE jobs SET state = 'pending'")
        worker.process(engine, jobs.claim(db, jobs.CLIP, 10))
        assert (
            db.execute("SELECT alt FROM images WHERE id = ?", (image,)).fetchone()[0] == first_alt
        )
        apply_edit(db, image, Edit(alt="Dark clouds over a field", tags=("storm",)))
        with transaction(db):
            db.execute("UPDATE jobs SET state = 'pending'")
        worker.process(engine, jobs.claim(db, jobs.CLIP, 10))
        alt = db.execute("SELECT alt FROM images WHERE id = ?", (image,)).fetchone()[0]
        assert alt == "Dark clouds over a field"
        assert field_sources(db, image)["alt"] == "human"
        assert ("storm", "human", None) in ai_tags(db, image)


def test_unreadable_images_fail_with_backoff_and_the_rest_goes_on(
    tmp_path: Path, tiny: dict[str, Any]
) -> None:
    settings = settings_with(tmp_path, tiny, max_attempts=2, retry_seconds=0)
    ids = ingest_paths(settings, [photo("LadyBird.jpg"), photo("Stripes.png")])
    layout = DataLayout.at(settings.data_dir)
    broken = ids["Stripes.png"]
    layout.original(broken).unlink()
    for level in layout.pyramid_dir(broken).iterdir():
        level.write_bytes(b"not an image any more")
    _, _, db = run_queue(settings)
    with closing(db):
        assert job_row(db, ids["LadyBird.jpg"])["state"] == "done"
        row = job_row(db, broken)
        assert (row["state"], row["attempts"]) == ("failed", 2)
        assert "cannot read the image" in row["last_error"]
        assert (
            db.execute("SELECT count(*) FROM embeddings WHERE image_id = ?", (broken,)).fetchone()[
                0
            ]
            == 0
        )


def test_without_weights_jobs_wait_with_a_clear_state(tmp_path: Path, tiny: dict[str, Any]) -> None:
    settings = make_settings(tmp_path / "data", ai={**tiny, "pretrained": "laion2b_s34b_b79k"})
    ingest_paths(settings, [photo("LadyBird.jpg")])
    with closing(open_database(DataLayout.at(settings.data_dir).database)) as db:
        worker = Worker(settings, db)
        thread = threading.Thread(target=worker.run)
        thread.start()
        try:
            deadline_polls = 600
            while jobs.worker_state(db)["state"] != "unavailable" and deadline_polls:
                worker.stop.wait(0.1)
                deadline_polls -= 1
        finally:
            worker.stop.set()
            thread.join(30)
        status = jobs.queue_status(db)
        assert status["state"] == "unavailable"
        assert "cannot load CLIP model pictor-tiny" in str(status["detail"])
        assert status["jobs"] == {"pending": 1, "running": 0, "done": 0, "failed": 0}


def test_worker_loop_stops_on_request_and_says_so(tmp_path: Path, tiny: dict[str, Any]) -> None:
    settings = settings_with(tmp_path, tiny, poll_seconds=0.05)
    ingest_paths(settings, [photo("Dune.jpg")])
    with closing(open_database(DataLayout.at(settings.data_dir).database)) as db:
        worker = Worker(settings, db)
        thread = threading.Thread(target=worker.run)
        thread.start()
        for _ in range(1200):
            if jobs.counts(db)["done"] == 1:
                break
            worker.stop.wait(0.1)
        worker.stop.set()
        thread.join(60)
        assert not thread.is_alive()
        assert jobs.counts(db)["done"] == 1
        assert jobs.worker_state(db)["state"] == "stopped"


# ---------------------------------------------------------------- pictor serve, end to end


def _maps(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return ""


def _wait_for_jobs(api: Api, count: int) -> dict[str, Any]:
    status: dict[str, Any] = {}
    with api.client() as http:
        for _ in range(1800):  # the worker imports torch and loads the model first
            status = http.get("/api/status").json()["ai"]
            if status["jobs"]["done"] == count:
                return status
            time.sleep(0.1)
    raise AssertionError(f"jobs not done: {status}\n{api.server.logs()}")


def test_serve_runs_the_worker_end_to_end(
    serve: ServerFactory, tiny: dict[str, Any], tmp_path: Path
) -> None:
    vocabulary = tmp_path / "vocabulary.toml"
    vocabulary.write_text(SMALL_VOCABULARY)
    ai = {
        **tiny,
        "tag_threshold": -1.0,
        "tag_top_k": 3,
        "vocabulary": str(vocabulary),
        "min_similarity": -1.0,
        "poll_seconds": 0.2,
    }
    server = serve(nginx=False, config={"ai": ai})
    api = Api(server, first_run_key(server))
    ids = [api.upload(jpeg_bytes(seed), f"{seed}.jpg").json()["id"] for seed in range(3)]
    status = _wait_for_jobs(api, 3)
    assert status["state"] == "ready" and status["model"].startswith("pictor-tiny/")
    with api.client() as http:
        detail = http.get(f"/api/images/{ids[0]}").json()
        tags = [t for t in detail["tags"] if t["source"] == "ai"]
        assert len(tags) == 3 and all(-1 <= t["score"] <= 1 for t in tags)
        assert detail["alt"].startswith("A photo of ")
        found = http.get("/api/search", params={"q": f'"{tags[0]["tag"]}"'}).json()["results"]
        assert ids[0] in [r["id"] for r in found]
        semantic = http.get("/api/search", params={"q": "a dog", "mode": "semantic"})
        assert semantic.status_code == 200, semantic.text
        results = semantic.json()["results"]
        assert sorted(r["id"] for r in results) == sorted(ids)  # min_similarity -1: all
        assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
        similar = http.get(f"/api/images/{ids[0]}/similar", params={"limit": 5}).json()
        assert sorted(r["id"] for r in similar["results"]) == sorted(ids[1:])
        assert all(-1 <= r["similarity"] <= 1 for r in similar["results"])
        hybrid = http.get("/api/search", params={"q": tags[0]["tag"], "mode": "hybrid"}).json()
        assert "notice" not in hybrid
        first_tags = {t["tag"] for t in hybrid["results"][0]["tags"]}
        assert tags[0]["tag"] in first_tags  # an exact tag match comes first
    # torch lives in the worker only: the origin (Hypercorn) processes never map it.
    processes = {pid: cmdline(pid) for pid in descendants(server.process.pid)}
    origins = [pid for pid, line in processes.items() if "hypercorn" in line]
    workers = [pid for pid, line in processes.items() if line.endswith("origin.cli worker ")]
    assert origins and workers, processes
    assert all("libtorch" not in _maps(pid) for pid in origins)
    assert all("libtorch" in _maps(pid) for pid in workers)  # the check can see torch
    result = run_pictor(server, "jobs", "--json")
    assert json.loads(result.stdout)["jobs"]["done"] == 3

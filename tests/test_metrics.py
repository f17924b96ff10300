"""/metrics, request ids, /readyz: against a real ``pictor serve`` with two workers."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import sqlite3
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from origin.metrics import jobs_by_state
from origin.middleware import RequestObserver, request_id_from, route_class
from origin.signing import signed_path
from tests.api_support import Api, first_run_key, jpeg_bytes
from tests.conftest import Server, ServerFactory, ingest_paths, make_settings, photo

KEY = "metrics-test-key"
CONFIG = {
    "server": {"workers": 2},
    "security": {"signing_keys": [KEY], "allow_unsigned": True},
    "log": {"json": True},
}


def scrape(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} from one scrape on a fresh connection."""
    response = httpx.get(server.url + "/metrics", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def fresh_get(server: Server, path: str, **kwargs: object) -> httpx.Response:
    """A new connection per request, so the kernel spreads them over both workers."""
    return httpx.get(server.url + path, timeout=30, **kwargs)  # type: ignore[arg-type]


def served_image(response: httpx.Response, fmt: str, width: int) -> None:
    assert response.status_code == 200, response.text
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.format == fmt
        assert image.width == width
        image.load()


@pytest.fixture
def server(serve: ServerFactory) -> Server:
    return serve(nginx=False, config=CONFIG)


@pytest.fixture
def image_id(server: Server) -> str:
    settings = make_settings(server.layout.root)
    return ingest_paths(settings, [photo("LadyBird.jpg")])["LadyBird.jpg"]


def test_metric_values_after_a_known_sequence(server: Server, image_id: str) -> None:
    renders = {"w_100": ("jpg", "JPEG"), "w_120": ("webp", "WEBP"), "w_140": ("png", "PNG")}
    for _ in range(2):  # first round renders (misses), second round is served from disk
        for options, (ext, fmt) in renders.items():
            response = fresh_get(server, f"/img/_/{options}/{image_id}.{ext}")
            served_image(response, fmt, int(options[2:]))
    for bad in ("w_abc", "zz_1"):
        assert fresh_get(server, f"/img/_/{bad}/{image_id}.jpg").status_code == 400
    assert fresh_get(server, "/img/_/w_100/0123456789abcdef0123.jpg").status_code == 404
    forged = signed_path("not-the-key", "w_90", f"{image_id}.jpg")
    assert fresh_get(server, forged).status_code == 403
    good = signed_path(KEY, "w_90", f"{image_id}.jpg")
    served_image(fresh_get(server, good), "JPEG", 90)
    for _ in range(3):
        assert fresh_get(server, "/readyz").status_code == 200
    assert fresh_get(server, "/nothing-here").status_code == 404

    first = scrape(server)
    expected_requests = {
        ("image", "200"): 7, ("image", "400"): 2, ("image", "404"): 1, ("image", "403"): 1,
        ("other", "404"): 1,
    }
    for (route, status), count in expected_requests.items():
        assert value(first, "pictor_requests_total", route=route, status=status) == count
    assert value(first, "pictor_requests_total", route="health", status="200") >= 3
    for fmt in ("jpg", "webp", "png"):
        assert value(first, "pictor_render_seconds_count", format=fmt) == (2 if fmt == "jpg"
                                                                            else 1)
    assert value(first, "pictor_renders_total", format="jpg") == 2
    assert value(first, "pictor_cache_misses_total") == 4
    assert value(first, "pictor_cache_hits_total") == 3
    assert value(first, "pictor_signature_failures_total") == 1
    assert value(first, "pictor_render_rejected_total") == 0
    assert value(first, "pictor_renders_in_progress") == 0
    assert value(first, "pictor_render_queue") == 0
    files = sorted(p for p in server.layout.cache.rglob("*") if p.is_file())
    assert value(first, "pictor_cache_files") == len(files) == 4
    assert value(first, "pictor_cache_bytes") == sum(p.stat().st_size for p in files)
    assert value(first, "pictor_images") == 1
    assert value(first, "pictor_disk_free_bytes") > 0

    # Whichever worker answers, the numbers are the same (multi-process aggregation),
    # and the only change between scrapes is the scrapes themselves.
    for _ in range(4):
        again = scrape(server)
        changed = {key for key in first if again.get(key) != first[key]
                   and key[0] != "pictor_disk_free_bytes"}  # other programs write too
        assert {name for name, _ in changed} <= {"pictor_requests_total"}
        assert all(dict(labels)["route"] == "metrics" for _, labels in changed)
    assert len(list((server.layout.run / "metrics").glob("counter_*.db"))) >= 2

    status = fresh_get(server, "/api/status").json()
    assert status["cache_files"] == 4
    assert status["cache_recent_requests"] is None  # no Nginx, no access log
    assert status["hit_ratio"] == round(3 / 7, 4)  # the counters of both workers
    assert {fmt: v["renders"] for fmt, v in status["render_latency"].items()} == {
        "jpg": 2, "png": 1, "webp": 1}
    assert all(v["mean_seconds"] > 0 for v in status["render_latency"].values())


def test_hit_ratio_without_nginx_counts_the_origins_hits(server: Server, image_id: str) -> None:
    assert fresh_get(server, "/api/status").json()["hit_ratio"] is None  # nothing served yet
    url = f"/img/_/w_64/{image_id}.jpg"
    assert fresh_get(server, url).headers["x-cache"] == "MISS"
    assert fresh_get(server, url).headers["x-cache"] == "HIT"
    assert fresh_get(server, "/api/status").json()["hit_ratio"] == 0.5


def test_queue_rejections_are_counted(serve: ServerFactory) -> None:
    """One render slot per worker and no queue: a burst of distinct misses gets 503s, and
    every 503 is counted exactly once whichever worker refused it."""
    server = serve(nginx=False, config={
        "server": {"workers": 2}, "limits": {"render_threads": 1, "render_queue": 0}})
    big = "seeding_by_Clements_Engelhardt.jpg"
    image_id = ingest_paths(make_settings(server.layout.root), [photo(big)])[big]
    paths = [f"/img/_/w_{3000 + i}/{image_id}.jpg" for i in range(12)]
    with ThreadPoolExecutor(len(paths)) as pool:
        responses = list(pool.map(lambda path: fresh_get(server, path), paths))
    statuses = Counter(response.status_code for response in responses)
    assert set(statuses) <= {200, 503} and statuses[200] >= 1 and statuses[503] >= 1
    assert all(r.headers["retry-after"] for r in responses if r.status_code == 503)
    samples = scrape(server)
    assert value(samples, "pictor_render_rejected_total") == statuses[503]
    assert value(samples, "pictor_requests_total", route="image", status="503") == statuses[503]
    assert value(samples, "pictor_renders_total", format="jpg") == statuses[200]


def test_uploads_are_counted_by_result(server: Server) -> None:
    api = Api(server, first_run_key(server))
    photo_bytes = jpeg_bytes(3)
    assert api.upload(photo_bytes).status_code == 201
    assert api.upload(jpeg_bytes(4)).status_code == 201
    assert api.upload(photo_bytes).status_code == 409
    assert api.upload(b"this is not an image at all").status_code == 415
    anonymous = httpx.post(server.url + "/api/images", files={"file": ("a.jpg", photo_bytes)})
    assert anonymous.status_code == 401
    samples = scrape(server)
    counts = {dict(labels)["result"]: count for (name, labels), count in samples.items()
              if name == "pictor_uploads_total"}
    assert counts == {"created": 2, "duplicate": 1, "unsupported": 1, "unauthorized": 1}
    assert value(samples, "pictor_images") == 2


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (None, {}),
        ("CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT)", {"queued": 2, "done": 1}),
        ("CREATE TABLE jobs (id INTEGER PRIMARY KEY, status TEXT)", {"queued": 2, "done": 1}),
        ("CREATE TABLE jobs (id INTEGER PRIMARY KEY, kind TEXT)", {}),
    ],
)
def test_ai_jobs_by_state(schema: str | None, expected: dict[str, int]) -> None:
    connection = sqlite3.connect(":memory:")
    if schema:
        connection.execute(schema)
        column = schema.split(", ")[1].split()[0]
        for state in ("queued", "done", "queued"):
            connection.execute(f"INSERT INTO jobs ({column}) VALUES (?)", (state,))
    assert jobs_by_state(connection) == expected


def test_request_id_is_echoed_generated_and_logged(server: Server, image_id: str) -> None:
    given = fresh_get(server, "/img/_/w_zz/" + image_id + ".jpg",
                      headers={"X-Request-Id": "abc123-from-nginx"})
    assert given.status_code == 400
    assert given.headers["x-request-id"] == "abc123-from-nginx"
    made_up = fresh_get(server, "/healthz")
    other = fresh_get(server, "/healthz")
    assert len(made_up.headers["x-request-id"]) == 32
    assert made_up.headers["x-request-id"] != other.headers["x-request-id"]
    forged = fresh_get(server, "/healthz", headers={"X-Request-Id": "a b <forged> line"})
    assert forged.headers["x-request-id"] != "a b <forged> line"
    lines = [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]
    tagged = [line for line in lines if line.get("request_id") == "abc123-from-nginx"]
    assert tagged, server.logs()
    assert "w_zz" in tagged[0]["message"]


def test_readyz_names_each_failed_check(serve: ServerFactory) -> None:
    low_disk = serve(nginx=False, config={"cache": {"min_free_bytes": 2**62}})
    response = fresh_get(low_disk, "/readyz")
    assert response.status_code == 503
    problems = response.json()["problems"]
    assert len(problems) == 1
    assert "below cache.min_free_bytes" in problems[0]
    assert fresh_get(low_disk, "/healthz").status_code == 200

    fine = serve(nginx=False)
    assert fresh_get(fine, "/readyz").json() == {"status": "ready"}
    database = fine.layout.database
    shutil.move(database, database.with_suffix(".moved"))
    database.mkdir()  # so no other process of the server can re-create the file meanwhile
    response = fresh_get(fine, "/readyz")
    assert response.status_code == 503
    assert response.json()["problems"] == ["database pictor.db is missing"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/img/_/w_100/abc.jpg", "image"),
        ("/img/thumb/abc", "image"),
        ("/api/images", "api"),
        ("/admin", "admin"),
        ("/admin/login", "admin"),
        ("/healthz", "health"),
        ("/readyz", "health"),
        ("/metrics", "metrics"),
        ("/", "other"),
        ("/imgx", "other"),
        ("/metrics/x", "other"),
    ],
)
def test_route_class(path: str, expected: str) -> None:
    assert route_class(path) == expected


@pytest.mark.parametrize(
    ("headers", "kept"),
    [
        ([(b"x-request-id", b"0f3a9c")], "0f3a9c"),
        ([(b"x-request-id", b"a" * 128)], "a" * 128),
        ([(b"x-request-id", b"a" * 129)], None),
        ([(b"x-request-id", b"has space")], None),
        ([(b"x-request-id", b"")], None),
        ([(b"user-agent", b"x")], None),
    ],
)
def test_request_id_from_headers(headers: list[tuple[bytes, bytes]], kept: str | None) -> None:
    result = request_id_from(headers)
    if kept is None:
        assert len(result) == 32 and result.isalnum()
    else:
        assert result == kept


def test_writable_and_disk_checks(tmp_path: Path) -> None:
    from origin.health import free_disk_problem, writable_problem

    assert writable_problem(tmp_path) is None
    assert list(tmp_path.iterdir()) == []  # the probe cleans up after itself
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    assert "not writable" in (writable_problem(not_a_dir) or "")
    assert free_disk_problem(tmp_path, 0) is None
    assert "below" in (free_disk_problem(tmp_path, 2**62) or "")


async def _no_receive() -> dict[str, object]:
    return {"type": "http.disconnect"}


@pytest.mark.parametrize(
    ("failure", "status"), [(RuntimeError("bug"), "500"), (asyncio.CancelledError(), "499")]
)
async def test_observer_counts_a_crash_as_500_and_an_abandoned_request_as_499(
    failure: BaseException, status: str
) -> None:
    async def app(scope: object, receive: object, send: object) -> None:
        raise failure

    labels = {"route": "other", "status": status}
    before = REGISTRY.get_sample_value("pictor_requests_total", labels) or 0
    sent: list[object] = []

    async def send(message: object) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/x", "headers": []}
    with pytest.raises(type(failure)):
        await RequestObserver(app)(scope, _no_receive, send)
    assert REGISTRY.get_sample_value("pictor_requests_total", labels) == before + 1
    assert sent == []

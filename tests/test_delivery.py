"""Delivery over HTTP against a real origin (Hypercorn, 2 workers, no Nginx):
status codes, signing rules, headers, the variant cache and single flight."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from origin.signing import sign
from tests.conftest import (
    Server,
    ServerFactory,
    ingest_paths,
    make_settings,
    photo,
    start_server,
)
from tests.imaging_helpers import decode

KEY = "test-key-1"
OLD_KEY = "test-key-0"
BIG = "seeding_by_Clements_Engelhardt.jpg"
SMALL = "FreshFlower.jpg"
TRANSPARENT = "Arc-Colors-Transparent-Wallpaper.png"


def with_photos(server: Server) -> tuple[Server, dict[str, str]]:
    settings = make_settings(server.layout.root)
    return server, ingest_paths(settings, [photo(BIG), photo(SMALL), photo(TRANSPARENT)])


def start(serve: ServerFactory, **security: object) -> tuple[Server, dict[str, str]]:
    return with_photos(serve(nginx=False, config={"security": security} if security else None))


def module_server(
    factory: pytest.TempPathFactory, **security: object
) -> Iterator[tuple[Server, dict[str, str]]]:
    config = {"security": security} if security else None
    server = start_server(factory.mktemp("delivery"), nginx=False, config=config)
    try:
        yield with_photos(server)
    finally:
        server.stop()


def signed(options: str, target: str, key: str = KEY) -> str:
    return f"/img/{sign(key, options, target)}/{options}/{target}"


def renders(server: Server) -> float:
    text = server.get("/metrics").text
    return sum(
        float(value) for value in re.findall(r"^pictor_renders_total\{[^}]*\} (\S+)$", text, re.M)
    )


@pytest.fixture(scope="module")
def unsigned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    yield from module_server(tmp_path_factory)


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    yield from module_server(tmp_path_factory, signing_keys=[KEY, OLD_KEY])


def test_miss_then_hit_with_contract_headers(unsigned: tuple[Server, dict[str, str]]) -> None:
    server, ids = unsigned
    url = f"/img/_/w_640/{ids[BIG]}.webp"
    first, second = server.get(url), server.get(url)
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    for response in (first, second):
        assert response.headers["content-type"] == "image/webp"
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["etag"] == first.headers["etag"]
        assert decode(response.content).size == (640, 360)
    assert first.content == second.content
    cached = server.layout.cache / ids[BIG][:2] / ids[BIG] / "_" / "w_640.webp"
    assert cached.read_bytes() == first.content


def test_conditional_request_gets_304(unsigned: tuple[Server, dict[str, str]]) -> None:
    server, ids = unsigned
    url = f"/img/_/w_100/{ids[SMALL]}.jpg"
    etag = server.get(url).headers["etag"]
    again = server.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""


def test_head_request(unsigned: tuple[Server, dict[str, str]]) -> None:
    server, ids = unsigned
    with server.client() as client:
        response = client.head(f"/img/_/w_100/{ids[SMALL]}.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [
        ("image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", "AVIF"),
        ("image/webp,*/*", "WEBP"),
        ("image/png,image/*;q=0.8,*/*;q=0.5", "JPEG"),
        ("*/*", "JPEG"),
        ("", "JPEG"),
    ],
)
def test_negotiation(unsigned: tuple[Server, dict[str, str]], accept: str, fmt: str) -> None:
    server, ids = unsigned
    response = server.get(f"/img/_/w_200/{ids[SMALL]}", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["vary"] == "Accept"
    assert decode(response.content).format == fmt


def test_negotiation_picks_png_for_transparent_legacy(
    unsigned: tuple[Server, dict[str, str]],
) -> None:
    server, ids = unsigned
    explicit = server.get(f"/img/_/w_200/{ids[TRANSPARENT]}.jpg")  # flattened, cached first
    assert decode(explicit.content).format == "JPEG"
    negotiated = server.get(f"/img/_/w_200/{ids[TRANSPARENT]}", headers={"Accept": "*/*"})
    image = decode(negotiated.content)
    assert image.format == "PNG" and image.mode == "RGBA"


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/img/_/w_300,h_200/{id}.jpg", "/img/_/h_200,w_300/{id}.jpg"),
        ("/img/_/fit_inside,w_300/{id}.jpg", "/img/_/w_300/{id}.jpg"),
        ("/img/_/w_0300,dpr_2.0/{id}", "/img/_/dpr_2,w_300/{id}"),
        ("/img/_/fit_inside/{id}.png", "/img/_/-/{id}.png"),
    ],
)
def test_non_canonical_redirects(
    unsigned: tuple[Server, dict[str, str]], path: str, location: str
) -> None:
    server, ids = unsigned
    response = server.get(path.format(id=ids[SMALL]) + "?x=1")
    assert response.status_code == 308
    assert response.headers["location"] == location.format(id=ids[SMALL]) + "?x=1"


@pytest.mark.parametrize(
    ("path", "status", "names"),
    [
        ("/img/_/zz_1/{id}.jpg", 400, "zz"),
        ("/img/_/w_0/{id}.jpg", 400, "w_0"),
        ("/img/_/w_10,w_20/{id}.jpg", 400, "'w'"),
        ("/img/_/w_10/{id}.tiff", 400, "tiff"),
        ("/img/_/blur_0.1/{id}.jpg", 400, "blur"),
        ("/img/_/enlarge_1,h_8000,w_8000/{id}.jpg", 400, "limit"),
        ("/img/_/w_10/ffffffffffffffffffff.jpg", 404, "unknown image"),
        ("/img/nosuchpreset/{id}.jpg", 404, "preset"),
        ("/img/_/w_10/not-an-id.jpg", 404, "unknown image"),
        ("/img/a/b/c/d.jpg", 400, "malformed"),
    ],
)
def test_client_errors(
    unsigned: tuple[Server, dict[str, str]], path: str, status: int, names: str
) -> None:
    server, ids = unsigned
    response = server.get(path.format(id=ids[SMALL]))
    assert response.status_code == status
    assert names in response.json()["error"]


def test_presets(unsigned: tuple[Server, dict[str, str]]) -> None:
    server, ids = unsigned
    response = server.get(f"/img/thumb/{ids[BIG]}.jpg")
    assert response.status_code == 200
    assert decode(response.content).size == (200, 200)
    # stored under the preset's canonical options, shared with the equivalent unsigned URL
    same = server.get(f"/img/_/fit_cover,h_200,w_200/{ids[BIG]}.jpg")
    assert same.headers["x-cache"] == "HIT" and same.content == response.content


def test_signed_urls(keyed: tuple[Server, dict[str, str]]) -> None:
    server, ids = keyed
    target = f"{ids[SMALL]}.jpg"
    assert server.get(signed("w_120", target)).status_code == 200
    assert server.get(signed("w_120", target, OLD_KEY)).status_code == 200  # rotation
    assert server.get(signed("w_120", target, "unknown-key")).status_code == 403
    assert server.get(f"/img/_/w_120/{target}").status_code == 403  # unsigned refused
    assert server.get(f"/img/_/w_120,h_9/{target}").status_code == 403  # not 308 first
    assert server.get(f"/img/thumb/{target}").status_code == 200  # presets need no signature
    negotiated = signed("w_120", ids[SMALL])
    assert server.get(negotiated, headers={"Accept": "image/webp"}).status_code == 200


def test_tampered_signature_is_refused_even_when_cached(
    keyed: tuple[Server, dict[str, str]],
) -> None:
    server, ids = keyed
    target = f"{ids[SMALL]}.jpg"
    good = signed("w_150", target)
    assert server.get(good).status_code == 200
    signature = good.split("/")[2]
    tampered = good.replace(signature, signature[:-1] + ("A" if signature[-1] != "A" else "B"))
    assert server.get(tampered).status_code == 403
    other_options = good.replace("w_150", "w_151")
    assert server.get(other_options).status_code == 403


def test_allow_unsigned_and_presets_only(serve: ServerFactory) -> None:
    server, ids = start(serve, signing_keys=[KEY], allow_unsigned=True)
    assert server.get(f"/img/_/w_90/{ids[SMALL]}.jpg").status_code == 200
    strict, ids = start(serve, signing_keys=[KEY], presets_only=True)
    target = f"{ids[SMALL]}.jpg"
    assert strict.get(signed("w_90", target)).status_code == 403
    assert strict.get(f"/img/_/w_90/{target}").status_code == 403
    assert strict.get(f"/img/thumb/{target}").status_code == 200
    # a refused kind of URL is refused outright, not first redirected to its canonical form
    assert strict.get(f"/img/_/w_90,h_10/{target}").status_code == 403


def test_unsigned_mode_refuses_signatures(unsigned: tuple[Server, dict[str, str]]) -> None:
    server, ids = unsigned
    assert server.get(signed("w_90", f"{ids[SMALL]}.jpg")).status_code == 403
    assert "WARNING no signing key" in server.logs()


def test_concurrent_identical_misses_render_once(unsigned: tuple[Server, dict[str, str]]) -> None:
    server, ids = unsigned
    url = f"{server.url}/img/_/w_777/{ids[BIG]}.avif"
    before = renders(server)

    async def fetch_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(*(client.get(url) for _ in range(50)))

    responses = asyncio.run(fetch_all())
    assert [r.status_code for r in responses] == [200] * 50
    assert len({r.content for r in responses}) == 1
    assert renders(server) - before == 1


def test_full_queue_answers_503_with_retry_after(serve: ServerFactory) -> None:
    server = serve(
        nginx=False,
        config={"limits": {"render_threads": 1, "render_queue": 0}, "server": {"workers": 1}},
    )
    ids = ingest_paths(make_settings(server.layout.root), [photo(BIG)])

    async def fetch_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            urls = [f"{server.url}/img/_/q_{q},w_1500/{ids[BIG]}.avif" for q in range(40, 52)]
            return await asyncio.gather(*(client.get(u) for u in urls))

    responses = asyncio.run(fetch_all())
    statuses = [r.status_code for r in responses]
    assert 200 in statuses and 503 in statuses
    assert set(statuses) <= {200, 503}
    refused = [r for r in responses if r.status_code == 503]
    assert all(r.headers["retry-after"].isdigit() for r in refused)
    assert all("busy" in r.json()["error"] for r in refused)


def test_no_temp_files_left(unsigned: tuple[Server, dict[str, str]]) -> None:
    server, ids = unsigned
    for width in (100, 200, 300):
        assert server.get(f"/img/_/w_{width}/{ids[BIG]}.jpg").status_code == 200
    leftovers = [p for p in Path(server.layout.cache).rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []

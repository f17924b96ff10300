"""The Nginx front against a real Nginx and a real origin (``pictor serve``).

What is checked here is what only the pair can show: hits come from disk without Python,
Nginx picks the same negotiated file as the origin would, refusals hold on variants
that are already on disk, limits answer 429/413, access log lines, and that every
answer means the same with and without Nginx in front.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from indexer.atomic import write_atomic
from indexer.layout import DataLayout
from origin import nginx
from origin.signing import sign
from origin.variants import VariantKey, variant_path
from tests.conftest import (
    Server,
    ServerFactory,
    clean_environment,
    ingest_paths,
    make_settings,
    photo,
    require,
    start_server,
)
from tests.processes import alive, child_running, wait_for

pytestmark = pytest.mark.nginx

KEY = "nginx-test-key"
OTHER_KEY = "not-a-configured-key"
OPAQUE = "FreshFlower.jpg"
TRANSPARENT = "Arc-Colors-Transparent-Wallpaper.png"
UNKNOWN_ID = "0123456789abcdef0123"
FALLBACK_SIZE = (24, 16)
FALLBACK_COLOUR = (255, 0, 255)
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass
class Site:
    """A running server with the two test photos ingested."""

    server: Server
    opaque: str
    transparent: str

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.server.get(path, **kwargs)


def nginx_installed() -> bool:
    return nginx.available()


def open_site(directory: Path, *, with_nginx: bool, config: dict[str, Any]) -> Site:
    directory.mkdir(parents=True, exist_ok=True)
    server = start_server(directory, nginx=with_nginx, config=config)
    ids = ingest_paths(make_settings(server.layout.root), [photo(OPAQUE), photo(TRANSPARENT)])
    return Site(server, ids[OPAQUE], ids[TRANSPARENT])


@pytest.fixture(scope="module")
def fallback_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fallback") / "missing.png"
    Image.new("RGB", FALLBACK_SIZE, FALLBACK_COLOUR).save(path)
    return path


def front_config(fallback: Path) -> dict[str, Any]:
    return {
        "server": {"fallback_image": str(fallback)},
        "presets": {"thumb": "fit_cover,h_200,w_200", "card": "w_480"},
    }


def module_site(
    factory: pytest.TempPathFactory, name: str, *, with_nginx: bool, config: dict[str, Any]
) -> Iterator[Site]:
    if with_nginx:
        require(nginx_installed(), "nginx")
    site = open_site(factory.mktemp(name), with_nginx=with_nginx, config=config)
    yield site
    site.server.stop()


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory, fallback_png: Path) -> Iterator[Site]:
    """Nginx in front, unsigned mode, a fallback image, two presets."""
    yield from module_site(
        tmp_path_factory, "front", with_nginx=True, config=front_config(fallback_png)
    )


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory, fallback_png: Path) -> Iterator[Site]:
    """The same configuration, origin alone (``--no-nginx``)."""
    yield from module_site(
        tmp_path_factory, "bare", with_nginx=False, config=front_config(fallback_png)
    )


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Signed mode with referer and CORS allow-lists."""
    config = {
        "security": {
            "signing_keys": [KEY],
            "referers": ["example.com", "*.good.org"],
            "cors_origins": ["https://app.example.com"],
        }
    }
    yield from module_site(tmp_path_factory, "guarded", with_nginx=True, config=config)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Tight rate and upload limits; a key plus ``allow_unsigned``."""
    config = {
        "security": {"signing_keys": [KEY], "allow_unsigned": True},
        "limits": {"rate_per_second": 1, "rate_burst": 2, "max_upload_bytes": 100_000},
    }
    yield from module_site(tmp_path_factory, "limited", with_nginx=True, config=config)


def signed(options: str, target: str, key: str = KEY) -> str:
    return f"/img/{sign(key, options, target)}/{options}/{target}"


def image_of(response: httpx.Response) -> Image.Image:
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def vary(response: httpx.Response) -> set[str]:
    """Every Vary token, whether sent as one header or several."""
    values = response.headers.get_list("vary")
    return {token.strip().lower() for value in values for token in value.split(",") if token}


def place_variant(site: Site, key: VariantKey, data: bytes) -> Path:
    """Put a file where the cache would have it, as if rendered under another config."""
    target = variant_path(DataLayout.at(site.server.layout.root), key)
    write_atomic(target, data)
    return target


# --- hits come from disk ------------------------------------------------------------


def test_first_request_misses_and_the_second_hits_the_file(front: Site) -> None:
    url = f"/img/_/w_320/{front.opaque}.webp"
    first = front.get(url)
    assert first.status_code == 200
    assert first.headers["x-cache"] == "MISS"
    assert image_of(first).format == "WEBP"
    assert image_of(first).width == 320
    cached = variant_path(front.server.layout, VariantKey(front.opaque, "_", "w_320", "webp"))
    assert cached.read_bytes() == first.content
    second = front.get(url)
    assert second.status_code == 200
    assert second.headers["x-cache"] == "HIT"
    assert second.headers["server"] == "nginx"
    assert second.content == first.content


def test_hits_never_reach_python(serve: ServerFactory) -> None:
    """Freeze every Hypercorn process: hits still answer.  Kill them: a miss fails
    quickly with a JSON 503 from Nginx instead of hanging."""
    server = serve(nginx=True)
    image_id = ingest_paths(make_settings(server.layout.root), [photo(OPAQUE)])[OPAQUE]
    url = f"/img/_/w_240/{image_id}.jpg"
    rendered = server.get(url)
    assert rendered.headers["x-cache"] == "MISS"
    supervisor = server.process.pid
    origin = child_running(supervisor, "hypercorn")  # leads the group of its workers
    os.kill(supervisor, signal.SIGSTOP)  # so it cannot react to what happens to its child
    try:
        os.killpg(origin, signal.SIGSTOP)
        hit = httpx.get(server.url + url, timeout=10)
        assert hit.status_code == 200
        assert hit.headers["x-cache"] == "HIT"
        assert hit.content == rendered.content
        os.killpg(origin, signal.SIGKILL)
        wait_for(lambda: not alive(origin), "the origin to die")
        # A 10 s client timeout is far below the 60 s proxy_read_timeout: a hang fails.
        miss = httpx.get(server.url + f"/img/_/w_241/{image_id}.jpg", timeout=10)
        assert miss.status_code in (502, 503, 504)
        assert miss.json() == {"error": "origin unavailable, try again shortly", "status": 503}
        assert miss.headers["retry-after"] == "5"
        assert httpx.get(server.url + url, timeout=10).status_code == 200  # hits go on
    finally:
        os.kill(supervisor, signal.SIGCONT)
    assert server.process.wait(60) == 1
    assert f"origin (pid {origin}) was killed by SIGKILL" in server.logs()


# --- negotiation --------------------------------------------------------------------

CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
FIREFOX = "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
SAFARI = (
    "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,"
    "image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
)
SAFARI_14 = "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"
IE11 = "image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
OLD_FIREFOX = "image/png,image/*;q=0.8,*/*;q=0.5"

NEGOTIATION = [
    # (label, Accept, format for an opaque image, format for a transparent one)
    ("chrome", CHROME, "AVIF", "AVIF"),
    ("firefox", FIREFOX, "AVIF", "AVIF"),
    ("safari", SAFARI, "AVIF", "AVIF"),
    ("safari-14", SAFARI_14, "WEBP", "WEBP"),
    ("ie11", IE11, "JPEG", "PNG"),
    ("old-firefox", OLD_FIREFOX, "JPEG", "PNG"),
    ("any", "*/*", "JPEG", "PNG"),
    ("none", "", "JPEG", "PNG"),
]
MIME = {"AVIF": "image/avif", "WEBP": "image/webp", "JPEG": "image/jpeg", "PNG": "image/png"}


@pytest.mark.parametrize(
    ("accept", "opaque_format", "transparent_format"),
    [case[1:] for case in NEGOTIATION],
    ids=[case[0] for case in NEGOTIATION],
)
def test_negotiated_format_per_browser(
    front: Site, accept: str, opaque_format: str, transparent_format: str
) -> None:
    # Each case gets its own width, so its first request is a miss of its own.
    width = 100 + [case[1] for case in NEGOTIATION].index(accept)
    for image_id, expected in ((front.opaque, opaque_format),
                               (front.transparent, transparent_format)):
        url = f"/img/_/w_{width}/{image_id}"
        miss, hit = (front.get(url, headers={"accept": accept}) for _ in range(2))
        assert (miss.headers["x-cache"], hit.headers["x-cache"]) == ("MISS", "HIT")
        for response in (miss, hit):
            assert response.status_code == 200
            assert image_of(response).format == expected
            assert response.headers["content-type"] == MIME[expected]
            assert "accept" in vary(response)
            assert image_of(response).width == width
        assert hit.content == miss.content
        if expected == "PNG":
            assert image_of(hit).mode in ("RGBA", "LA", "PA") or "transparency" in (
                image_of(hit).info
            )


def test_a_legacy_browser_never_gets_a_modern_file_cached_for_another(front: Site) -> None:
    """The AVIF rendered for Chrome must not be what IE11 gets at the same URL."""
    url = f"/img/_/w_150/{front.opaque}"
    assert image_of(front.get(url, headers={"accept": CHROME})).format == "AVIF"
    legacy = front.get(url, headers={"accept": IE11})
    assert image_of(legacy).format == "JPEG"
    assert image_of(front.get(url, headers={"accept": IE11})).format == "JPEG"


# --- headers ------------------------------------------------------------------------

HEADER_CASES = {
    "extension": "/img/_/w_260/{id}.jpg",
    "negotiated": "/img/_/w_260/{id}",
    "preset": "/img/card/{id}.webp",
    "preset-negotiated": "/img/thumb/{id}",
}


@pytest.mark.parametrize("template", HEADER_CASES.values(), ids=HEADER_CASES.keys())
def test_hit_headers_mean_the_same_as_miss_headers(front: Site, template: str) -> None:
    url = template.format(id=front.opaque)
    accept = {"accept": FIREFOX}
    miss, hit = (front.get(url, headers=accept) for _ in range(2))
    assert (miss.headers["x-cache"], hit.headers["x-cache"]) == ("MISS", "HIT")
    for name in ("content-type", "etag", "cache-control", "content-length"):
        assert miss.headers[name] == hit.headers[name], name
    assert hit.headers["cache-control"] == IMMUTABLE
    # both carry the request id Nginx logs, so a client report can be traced
    assert miss.headers["x-request-id"] != hit.headers["x-request-id"]
    assert len(hit.headers["x-request-id"]) == 32
    assert vary(miss) == vary(hit) == ({"accept"} if "{id}." not in template else set())
    assert hit.content == miss.content
    revalidated = front.get(url, headers={**accept, "if-none-match": hit.headers["etag"]})
    assert revalidated.status_code == 304
    assert revalidated.headers["x-cache"] == "HIT"
    assert revalidated.headers["etag"] == hit.headers["etag"]


# --- the same answers with and without Nginx ----------------------------------------

SAME_CASES = {
    "preset": ("/img/thumb/{id}.jpg", {}),
    "preset-negotiated": ("/img/thumb/{id}", {"accept": SAFARI_14}),
    "unknown-preset": ("/img/nosuch/{id}.jpg", {}),
    "unknown-id-preset": ("/img/thumb/{unknown}.jpg", {}),
    "unknown-id-transform": ("/img/_/w_100/{unknown}.webp", {}),
    "unknown-id-negotiated": ("/img/_/w_100/{unknown}", {"accept": CHROME}),
    "malformed-id": ("/img/thumb/not-an-id.jpg", {}),
    "non-canonical": ("/img/_/w_0100,h_50/{id}.jpg", {}),
    "bad-option": ("/img/_/w_abc/{id}.jpg", {}),
    "unknown-extension": ("/img/_/w_100/{id}.bmp", {}),
}


def summary(response: httpx.Response) -> dict[str, Any]:
    """What a client can tell from an answer, without transport details."""
    kind = response.headers.get("content-type", "").split(";")[0]
    seen: dict[str, Any] = {"status": response.status_code, "type": kind}
    if kind.startswith("image/"):
        image = image_of(response)
        seen["image"] = (image.format, image.size)
        seen["cache-control"] = response.headers.get("cache-control")
    elif kind == "application/json":
        seen["body"] = response.json()
    if "location" in response.headers:
        seen["location"] = response.headers["location"]
    return seen


@pytest.mark.parametrize("case", SAME_CASES.values(), ids=SAME_CASES.keys())
def test_presets_and_unknown_ids_answer_the_same_with_and_without_nginx(
    front: Site, bare: Site, case: tuple[str, dict[str, str]]
) -> None:
    template, headers = case
    url = template.format(id=front.opaque, unknown=UNKNOWN_ID)
    assert front.opaque == bare.opaque  # content-addressed: the same photo, the same id
    with_nginx = [summary(front.get(url, headers=headers)) for _ in range(2)]
    origin_only = [summary(bare.get(url, headers=headers)) for _ in range(2)]
    assert with_nginx == origin_only
    assert with_nginx[0] == with_nginx[1]


def test_unknown_ids_get_the_fallback_image_with_status_404(front: Site) -> None:
    for url in (f"/img/thumb/{UNKNOWN_ID}.jpg", f"/img/_/w_100/{UNKNOWN_ID}"):
        response = front.get(url)
        assert response.status_code == 404
        assert response.headers["content-type"] == "image/png"
        image = image_of(response).convert("RGB")
        assert image.size == FALLBACK_SIZE
        assert image.getpixel((3, 3)) == FALLBACK_COLOUR
        assert response.headers["cache-control"] == "public, max-age=60"
        assert "x-cache" not in response.headers


# --- refusals on variants already on disk -------------------------------------------


def test_a_tampered_signature_is_refused_although_the_variant_is_cached(guarded: Site) -> None:
    for target in (f"{guarded.opaque}.jpg", guarded.opaque):  # explicit and negotiated
        url = signed("w_200", target)
        assert [guarded.get(url).headers["x-cache"] for _ in range(2)] == ["MISS", "HIT"]
        signature = url.split("/")[2]
        flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
        for bad in (
            url.replace(signature, flipped),
            signed("w_200", target, key=OTHER_KEY),
            url.replace(signature, sign(KEY, "w_201", target)),  # valid, for other options
        ):
            response = guarded.get(bad)
            assert response.status_code == 403, bad
            assert response.json()["error"] == "invalid signature"


def test_jpeg_alias_needs_its_own_signature_also_when_cached(guarded: Site) -> None:
    """``.jpg`` and ``.jpeg`` name the same file but are signed differently."""
    jpg = signed("w_190", f"{guarded.opaque}.jpg")
    assert [guarded.get(jpg).headers["x-cache"] for _ in range(2)] == ["MISS", "HIT"]
    borrowed = jpg.replace(".jpg", ".jpeg")  # the .jpg signature on a .jpeg URL
    assert guarded.get(borrowed).status_code == 403
    own = signed("w_190", f"{guarded.opaque}.jpeg")
    response = guarded.get(own)
    assert response.status_code == 200 and image_of(response).format == "JPEG"


def test_unsigned_urls_are_refused_even_when_the_file_exists(guarded: Site) -> None:
    rendered = guarded.get(signed("w_180", f"{guarded.opaque}.jpg"))
    place_variant(guarded, VariantKey(guarded.opaque, "_", "w_180", "jpg"), rendered.content)
    response = guarded.get(f"/img/_/w_180/{guarded.opaque}.jpg")
    assert response.status_code == 403
    assert "unsigned" in response.json()["error"]


def test_unsigned_urls_hit_when_allowed_next_to_keys(limited: Site) -> None:
    url = f"/img/_/w_170/{limited.opaque}.jpg"
    assert [limited.get(url).headers["x-cache"] for _ in range(2)] == ["MISS", "HIT"]


def test_presets_only_refuses_transforms_even_when_cached(serve: ServerFactory) -> None:
    server = serve(
        nginx=True, config={"security": {"signing_keys": [KEY], "presets_only": True}}
    )
    image_id = ingest_paths(make_settings(server.layout.root), [photo(OPAQUE)])[OPAQUE]
    preset = server.get(f"/img/thumb/{image_id}.jpg")
    assert preset.status_code == 200
    assert server.get(f"/img/thumb/{image_id}.jpg").headers["x-cache"] == "HIT"
    site = Site(server, image_id, "")
    sig = sign(KEY, "w_160", f"{image_id}.jpg")
    for auth in (sig, "_"):
        place_variant(site, VariantKey(image_id, auth, "w_160", "jpg"), preset.content)
        response = server.get(f"/img/{auth}/w_160/{image_id}.jpg")
        assert response.status_code == 403
        assert response.json()["error"] == "only preset URLs are allowed on this server"


# --- referer and CORS allow-lists ---------------------------------------------------

REFERERS = {
    "https://example.com/page": 200,
    "https://cdn.good.org/a/b": 200,
    "https://good.org/": 200,
    "https://evil.com/": 403,
    "https://example.com.evil.com/": 403,
    "https://notexample.com/": 403,
}


@pytest.mark.parametrize("cached", [False, True], ids=["miss", "hit"])
def test_referer_allow_list_on_hits_and_misses(guarded: Site, cached: bool) -> None:
    for index, (referer, status) in enumerate(REFERERS.items()):
        url = signed(f"w_{300 + index + (50 if cached else 0)}", f"{guarded.opaque}.jpg")
        if cached:
            assert guarded.get(url).headers["x-cache"] == "MISS"
        response = guarded.get(url, headers={"referer": referer})
        assert response.status_code == status, referer
        if status == 403:
            assert response.json()["error"] == "referer not allowed"
        else:
            assert response.headers["x-cache"] == ("HIT" if cached else "MISS")
    assert guarded.get(signed("w_300", f"{guarded.opaque}.jpg")).status_code == 200  # none


def test_cors_allow_list_on_hits_and_misses(guarded: Site) -> None:
    allowed = {"origin": "https://app.example.com"}
    url = signed("w_210", guarded.opaque)
    miss = guarded.get(url, headers={**allowed, "accept": CHROME})
    hit = guarded.get(url, headers={**allowed, "accept": CHROME})
    assert (miss.headers["x-cache"], hit.headers["x-cache"]) == ("MISS", "HIT")
    for response in (miss, hit):
        assert response.headers["access-control-allow-origin"] == "https://app.example.com"
        assert vary(response) == {"origin", "accept"}
    plain = guarded.get(url, headers={"accept": CHROME})
    assert "access-control-allow-origin" not in plain.headers
    assert vary(plain) == {"origin", "accept"}
    for cached in (url, signed("w_211", guarded.opaque)):  # a hit, then a miss
        refused = guarded.get(cached, headers={"origin": "https://evil.example.com"})
        assert refused.status_code == 403
        assert refused.json()["error"] == "origin not allowed"


# --- limits -------------------------------------------------------------------------


def test_a_burst_of_misses_is_rate_limited_but_hits_are_not(limited: Site) -> None:
    hit_url = f"/img/_/w_90/{limited.opaque}.jpg"
    limited.get(hit_url)
    misses, hits = [], []
    with limited.server.client() as client:
        for index in range(20):
            misses.append(client.get(f"/img/_/w_90/{index:020x}.jpg"))
            hits.append(client.get(hit_url))
    assert {response.status_code for response in misses} == {404, 429}
    refused = next(response for response in misses if response.status_code == 429)
    assert refused.json() == {"error": "rate limit exceeded: slow down", "status": 429}
    assert refused.headers["retry-after"] == "1"
    assert {(hit.status_code, hit.headers["x-cache"]) for hit in hits} == {(200, "HIT")}


def test_a_burst_of_api_calls_is_rate_limited(limited: Site) -> None:
    with limited.server.client() as client:
        statuses = [client.get("/api/status").status_code for _ in range(40)]
    assert 429 in statuses
    assert statuses[0] != 429


def test_an_oversized_upload_is_refused_by_nginx(limited: Site) -> None:
    limit = 100_000 + nginx.MULTIPART_SLACK_BYTES
    response = limited.server.client().post(
        "/api/images", content=b"\xff" * (limit + 1), headers={"content-type": "image/jpeg"}
    )
    assert response.status_code == 413
    assert response.json() == {
        "error": "request body larger than limits.max_upload_bytes (100000 bytes)",
        "status": 413,
    }
    assert response.headers["server"] == "nginx"


# --- access log ---------------------------------------------------------------------

LOG_FIELDS = {
    "time", "client", "method", "uri", "status", "bytes", "request_time", "upstream_time",
    "referer", "user_agent", "cache", "hit", "request_id",
}


def access_lines(site: Site, uri: str, count: int) -> list[dict[str, Any]]:
    log = site.server.layout.logs / "access.log"

    def lines() -> list[dict[str, Any]]:
        if not log.exists():
            return []
        entries = [json.loads(line) for line in log.read_text().splitlines()]
        return [entry for entry in entries if entry["uri"] == uri]

    wait_for(lambda: len(lines()) >= count, f"{count} log lines for {uri}")  # buffered 1 s
    return lines()


def test_every_request_gets_a_json_access_log_line(front: Site) -> None:
    uri = f"/img/_/w_222/{front.opaque}.jpg?utm=1"
    agent = {"user-agent": 'pictor-test/1.0 "quoted"', "referer": "https://example.com/a"}
    responses = [front.get(uri, headers=agent) for _ in range(2)]
    miss, hit = access_lines(front, uri, 2)
    for entry, response in zip((miss, hit), responses, strict=True):
        assert set(entry) == LOG_FIELDS
        assert entry["client"] == "127.0.0.1"
        assert entry["method"] == "GET"
        assert entry["status"] == 200
        assert entry["bytes"] == len(response.content)
        assert isinstance(entry["request_time"], float)
        assert entry["referer"] == "https://example.com/a"
        assert entry["user_agent"] == 'pictor-test/1.0 "quoted"'
        assert time.strptime(entry["time"][:19], "%Y-%m-%dT%H:%M:%S")
    assert (miss["hit"], miss["cache"]) == (False, "MISS")
    assert (hit["hit"], hit["cache"]) == (True, "HIT")
    assert miss["upstream_time"] != "" and hit["upstream_time"] == ""
    refused = front.get(f"/img/_/w_log/{front.opaque}.jpg")
    [entry] = access_lines(front, f"/img/_/w_log/{front.opaque}.jpg", 1)
    assert (entry["status"], entry["hit"]) == (refused.status_code, False)


# --- the configuration itself -------------------------------------------------------

CONFIGS = {
    "defaults": {},
    "guarded": {"security": {"signing_keys": [KEY], "referers": ["a.example", "*.b.example"],
                             "cors_origins": ["https://c.example", "*"]}},
    "presets-only": {"security": {"signing_keys": [KEY], "presets_only": True}},
    "no-avif": {"output": {"avif": False}, "presets": {}},
    "ipv6": {"server": {"host": "::1"}},
}


@pytest.mark.parametrize("sections", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("upstream", ["unix:/tmp/pictor-test.sock", "origin:8000"])
def test_rendered_configuration_is_accepted_by_nginx(
    tmp_path: Path, sections: dict[str, Any], upstream: str
) -> None:
    require(nginx_installed(), "nginx")
    settings = make_settings(tmp_path / "data", **sections)
    layout = DataLayout.at(settings.data_dir)
    conf = nginx.write_config(settings, layout, upstream, tmp_path / "nginx.conf")
    text = conf.read_text()
    assert f"server {upstream};" in text
    assert f"listen {nginx.listen_host(settings.server.host)}:8080 reuseport;" in text
    # Nginx resolves upstream names at load time; this machine has no "origin" host.
    conf.write_text(text.replace("origin:8000", "127.0.0.1:8000"))
    result = subprocess.run(nginx.test_command(layout, conf), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    security = settings.security
    assert ("[A-Za-z0-9_-]{32}" in text) is (bool(security.signing_keys)
                                            and not security.presets_only)
    assert ("~image/avif" in text) is settings.output.avif


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "origin.cli", *args], capture_output=True,
                          text=True, env=clean_environment(), cwd=cwd, timeout=120)


def test_nginx_config_command_prints_or_writes_the_rendered_configuration(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    settings = make_settings(data)
    layout = DataLayout.at(data)
    tcp = run_cli("nginx-config", "--data", str(data), "--upstream", "origin:8000", cwd=tmp_path)
    assert tcp.returncode == 0, tcp.stderr
    assert tcp.stdout == nginx.render_config(settings, layout, "origin:8000")
    sock = run_cli("nginx-config", "--data", str(data), "--socket", "/run/o.sock",
                   "--output", str(tmp_path / "out.conf"), cwd=tmp_path)
    assert sock.returncode == 0, sock.stderr
    assert (tmp_path / "out.conf").read_text() == nginx.render_config(
        settings, layout, "unix:/run/o.sock"
    )
    default = run_cli("nginx-config", "--data", str(data), cwd=tmp_path)
    assert f"server unix:{data}/run/origin.sock;" in default.stdout
    for name in nginx.TEMP_DIRS:
        assert (data / "run" / "nginx" / name).is_dir()
    bad = run_cli("nginx-config", "--data", str(data), "--upstream", "origin", cwd=tmp_path)
    assert bad.returncode == 2
    assert "--upstream: expected HOST:PORT, got 'origin'" in bad.stderr
    both = run_cli("nginx-config", "--socket", "a", "--upstream", "b:1", cwd=tmp_path)
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr

"""Authentication, scopes and CORS of the HTTP API, over HTTP against a real server.

Every endpoint answers 401 without a valid key and 403 to a key without its scope;
browser uploads work from an origin the key lists, and only from there.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api_support import Api, first_run_key, jpeg_bytes, run_pictor
from tests.conftest import start_server

CMS = "https://cms.example.com"
EVIL = "https://evil.example"
IMAGE_ID = "0123456789abcdef0123"

# (method, path, scope it needs, request keyword arguments)
ENDPOINTS: list[tuple[str, str, str, dict[str, object]]] = [
    ("POST", "/api/images", "write", {"files": {"file": ("x.jpg", b"not an image")}}),
    ("GET", "/api/images", "read", {}),
    ("GET", f"/api/images/{IMAGE_ID}", "read", {}),
    ("PATCH", f"/api/images/{IMAGE_ID}", "write", {"json": {"title": "x"}}),
    ("DELETE", f"/api/images/{IMAGE_ID}", "delete", {}),
    ("POST", "/api/sign", "sign", {"json": {"options": "w_10", "id": IMAGE_ID}}),
]
SCOPES = ("read", "write", "delete", "sign")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    server = start_server(tmp_path_factory.mktemp("auth"), nginx=False)
    yield Api(server, first_run_key(server))
    server.stop()


@pytest.fixture(scope="module")
def keys(api: Api) -> dict[str, str]:
    """One key per single scope, and "cms": read+write, allowed from the CMS origin."""
    made = {scope: api.key(f"only-{scope}", scope) for scope in SCOPES}
    made["cms"] = api.key("cms", "read,write", CMS)
    return made


def call(api: Api, method: str, path: str, headers: dict[str, str],
         kwargs: dict[str, object]) -> httpx.Response:
    with api.server.client() as client:
        return client.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("method", "path", "scope", "kwargs"), ENDPOINTS)
@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer pk_wrong", "Basic dXNlcjpwYXNz", "pk_no_scheme"],
)
def test_without_a_valid_key_every_endpoint_answers_401(
    api: Api, method: str, path: str, scope: str, kwargs: dict[str, object],
    authorization: str | None,
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = call(api, method, path, headers, kwargs)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "API key" in response.json()["error"]


@pytest.mark.parametrize(("method", "path", "scope", "kwargs"), ENDPOINTS)
def test_every_endpoint_needs_its_scope(
    api: Api, keys: dict[str, str], method: str, path: str, scope: str,
    kwargs: dict[str, object],
) -> None:
    for held in SCOPES:
        response = call(api, method, path, {"Authorization": f"Bearer {keys[held]}"}, kwargs)
        if held == scope:
            assert response.status_code not in (401, 403), response.text
        else:
            assert response.status_code == 403, (held, response.text)
            assert f"lacks the {scope!r} scope" in response.json()["error"]
    admin = call(api, method, path, {"Authorization": f"Bearer {api.admin}"}, kwargs)
    assert admin.status_code not in (401, 403)


def test_the_bearer_scheme_is_case_insensitive(api: Api) -> None:
    with api.server.client() as client:
        response = client.get("/api/images", headers={"Authorization": f"bearer {api.admin}"})
    assert response.status_code == 200


def test_a_revoked_key_is_refused_at_once(api: Api) -> None:
    key = api.key("short-lived", "read")
    with api.client(key) as client:
        assert client.get("/api/images").status_code == 200
        assert run_pictor(api.server, "keys", "revoke", "short-lived").returncode == 0
        assert client.get("/api/images").status_code == 401


def test_last_use_is_recorded(api: Api) -> None:
    key = api.key("tracked", "read")
    with api.client(key) as client:
        client.get("/api/images")
    listed = run_pictor(api.server, "keys", "list").stdout
    row = next(line for line in listed.splitlines() if line.startswith("tracked\t"))
    assert row.split("\t")[5].startswith("20")  # LAST USED is a timestamp, not "-"


def test_preflight_is_granted_to_an_origin_a_key_allows(api: Api, keys: dict[str, str]) -> None:
    with api.server.client() as client:
        response = client.options("/api/images", headers={
            "Origin": CMS, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == CMS
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "Authorization" in response.headers["access-control-allow-headers"]
    assert "Origin" in response.headers["vary"]


def test_preflight_from_an_unknown_origin_is_refused(api: Api) -> None:
    with api.server.client() as client:
        response = client.options("/api/images", headers={
            "Origin": EVIL, "Access-Control-Request-Method": "POST"})
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    assert EVIL in response.json()["error"]


def test_browser_upload_from_the_allowed_origin(api: Api, keys: dict[str, str]) -> None:
    with api.client(keys["cms"], headers={"Origin": CMS}) as client:
        response = client.post("/api/images", files={"file": ("a.jpg", jpeg_bytes(30))})
        assert response.status_code == 201, response.text
        assert response.headers["access-control-allow-origin"] == CMS
        assert "Location" in response.headers["access-control-expose-headers"]
        # Errors carry the CORS headers too, so the page can read why.
        bad = client.post("/api/images", files={"file": ("a.jpg", b"text")})
        assert bad.status_code == 415
        assert bad.headers["access-control-allow-origin"] == CMS


def test_a_key_is_refused_from_an_origin_it_does_not_list(
    api: Api, keys: dict[str, str]
) -> None:
    with api.client(keys["cms"], headers={"Origin": EVIL}) as client:
        response = client.get("/api/images")
    assert response.status_code == 403 and EVIL in response.json()["error"]
    assert "access-control-allow-origin" not in response.headers
    # A key without origins is not for browsers on other sites, even a listed one.
    with api.client(headers={"Origin": CMS}) as client:
        admin = client.get("/api/images")
    assert admin.status_code == 403
    assert "may not be used from origin" in admin.json()["error"]


def test_same_origin_and_non_browser_requests_need_no_origin_grant(api: Api) -> None:
    with api.client(headers={"Origin": api.url}) as client:
        assert client.get("/api/images").status_code == 200
    with api.client() as client:
        response = client.get("/api/images")
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_openapi_document_is_public(api: Api) -> None:
    response = api.server.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.1")


def test_first_run_prints_one_admin_key_and_a_restart_prints_none(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    directory = tmp_path_factory.mktemp("restart")
    first = start_server(directory, nginx=False)
    key = first_run_key(first)
    first.stop()
    second = start_server(directory, nginx=False)
    try:
        assert "pk_" not in second.logs()  # its own log file: no new key printed
        with second.client(headers={"Authorization": f"Bearer {key}"}) as client:
            assert client.get("/api/images").status_code == 200
    finally:
        second.stop()

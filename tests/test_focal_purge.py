"""Moving an image's focal point re-renders its ``g_focal`` crops (no stale variants)."""

from __future__ import annotations

from tests.api_support import Api, first_run_key
from tests.conftest import ServerFactory, photo
from tests.imaging_helpers import decode, difference


def test_focal_change_purges_focal_variants(serve: ServerFactory) -> None:
    server = serve(nginx=False, config={"presets": {"hero": "fit_cover,g_focal,h_200,w_200"}})
    api = Api(server, first_run_key(server))
    created = api.upload(photo("Bridge_by_Sander_Klootwijk.jpg").read_bytes(), focal="0,0")
    assert created.status_code == 201
    image_id = created.json()["id"]
    url = f"/img/hero/{image_id}.png"
    plain = f"/img/_/w_100/{image_id}.png"
    left, untouched = server.get(url), server.get(plain)
    assert server.get(url).headers["x-cache"] == "HIT"
    with api.client() as client:
        moved = client.patch(f"/api/images/{image_id}", json={"focal": {"x": 1, "y": 1}})
    assert moved.status_code == 200
    right = server.get(url)
    assert right.headers["x-cache"] == "MISS"
    assert difference(decode(left.content), decode(right.content)) > 10
    assert server.get(plain).headers["x-cache"] == "HIT"  # other variants stay cached
    assert untouched.status_code == 200

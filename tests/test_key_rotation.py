"""Removing a signing key also stops its URLs for variants already cached (Nginx in front)."""

from __future__ import annotations

from pathlib import Path

from origin.key_rotation import prune_stale_signatures
from origin.signing import sign
from tests.conftest import ingest_paths, make_settings, photo, start_server

OLD, NEW = "old-key", "new-key"


def signed(key: str, options: str, target: str) -> str:
    return f"/img/{sign(key, options, target)}/{options}/{target}"


def test_a_removed_key_stops_working_for_cached_variants(tmp_path: Path) -> None:
    server = start_server(tmp_path, nginx=True, config={"security": {"signing_keys": [OLD, NEW]}})
    try:
        image_id = ingest_paths(make_settings(server.layout.root), [photo("Dune.jpg")])["Dune.jpg"]
        urls = {
            key: [
                signed(key, "dpr_1.5,w_100", f"{image_id}.jpg"),
                signed(key, "w_100", image_id),  # negotiated
                signed(key, "w_120", f"{image_id}.jpeg"),
            ]
            for key in (OLD, NEW)
        }
        for url in urls[OLD] + urls[NEW]:
            assert server.get(url).status_code == 200
        assert server.get(urls[OLD][0]).headers["x-cache"] == "HIT"
    finally:
        server.stop()
    server = start_server(tmp_path, nginx=True, config={"security": {"signing_keys": [NEW]}})
    try:
        assert "removed 3 cached variant folder(s)" in server.logs()
        for url in urls[OLD]:
            assert server.get(url).status_code == 403, url
        for url in urls[NEW]:
            response = server.get(url)
            assert response.status_code == 200 and response.headers["x-cache"] == "HIT", url
    finally:
        server.stop()


def test_unchanged_keys_prune_nothing_and_unsigned_folders_stay(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    image_id = ingest_paths(settings, [photo("Dune.jpg")])["Dune.jpg"]
    folder = tmp_path / "data" / "cache" / image_id[:2] / image_id
    good = folder / sign(NEW, "w_10", f"{image_id}.png")
    stray = folder / sign(OLD, "w_10", f"{image_id}.png")
    for place in (good, stray, folder / "_"):
        place.mkdir(parents=True)
        (place / "w_10.png").write_bytes(b"x")
    from indexer.layout import DataLayout

    assert prune_stale_signatures(DataLayout.at(tmp_path / "data"), [NEW]) == 1
    assert good.is_dir() and (folder / "_").is_dir() and not stray.exists()

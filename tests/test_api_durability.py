"""Uploads are durable and race-free, against a real ``pictor serve``:

- an upload that got its 201 survives ``kill -9`` of every server process right after;
- 20 parallel uploads of different photos all land;
- 20 parallel uploads of the same bytes give one 201, nineteen 409 and one row.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, suppress
from pathlib import Path

import httpx
import pytest

from indexer.layout import DataLayout
from tests.api_support import Api, decode, first_run_key, jpeg_bytes
from tests.conftest import (
    Server,
    _wait_ready,
    clean_environment,
    free_port,
    start_server,
    write_toml,
)

PARALLEL = 20


def start_detached(directory: Path) -> Server:
    """``pictor serve --no-nginx`` in a session of its own, so that the test can kill
    it and all its descendants without touching pytest."""
    port = free_port()
    config = write_toml(directory / "pictor.toml", {})
    log = directory / f"serve-{port}.log"
    argv = [sys.executable, "-m", "origin.cli", "serve", "--no-nginx", "--config", str(config),
            "--data", str(directory / "data"), "--port", str(port)]
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=directory,
                                   env=clean_environment(), start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", port, DataLayout.at(directory / "data"),
                    process, log)
    _wait_ready(server)
    return server


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def kill_everything(server: Server) -> None:
    """SIGKILL the server and every process below it (each child leads its own process
    group, so kill each group), before any of them can clean up."""
    pids = {server.process.pid} | descendants(server.process.pid)
    groups = set()
    for pid in pids:
        with suppress(ProcessLookupError):
            groups.add(os.getpgid(pid))
    for group in groups:
        with suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
    server.process.wait(timeout=10)


def test_an_acknowledged_upload_survives_kill_9(tmp_path: Path) -> None:
    server = start_detached(tmp_path)
    key = first_run_key(server)
    photos = [jpeg_bytes(seed, (900, 600)) for seed in (50, 51, 52)]
    acknowledged = {}
    try:
        with server.client(headers={"Authorization": f"Bearer {key}"}) as client:
            for index, data in enumerate(photos):
                response = client.post("/api/images", files={"file": (f"{index}.jpg", data)},
                                       data={"title": f"survivor {index}", "tags": "kept"})
                assert response.status_code == 201, response.text
                acknowledged[response.json()["id"]] = data
        kill_everything(server)  # at once after the last 201: no shutdown, no cleanup
    finally:
        if server.process.poll() is None:
            kill_everything(server)
    restarted = start_server(tmp_path, nginx=False)
    try:
        with restarted.client(headers={"Authorization": f"Bearer {key}"}) as client:
            for index, (image_id, data) in enumerate(acknowledged.items()):
                assert image_id == hashlib.sha256(data).hexdigest()[:20]
                assert restarted.layout.original(image_id).read_bytes() == data
                shown = client.get(f"/api/images/{image_id}")
                assert shown.status_code == 200, shown.text
                body = shown.json()
                assert body["title"] == f"survivor {index}" and body["tags"][0]["tag"] == "kept"
                thumb = restarted.get(f"/img/thumb/{image_id}.png")
                assert thumb.status_code == 200
                assert decode(thumb.content).size == (200, 200)
    finally:
        restarted.stop()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    server = start_server(tmp_path, nginx=False)
    yield Api(server, first_run_key(server))
    server.stop()


def upload_all(api: Api, payloads: list[bytes]) -> list[httpx.Response]:
    def one(index_data: tuple[int, bytes]) -> httpx.Response:
        index, data = index_data
        with api.client() as client:
            return client.post("/api/images", files={"file": (f"p{index}.jpg", data)})

    with ThreadPoolExecutor(len(payloads)) as pool:
        return list(pool.map(one, enumerate(payloads)))


def image_rows(api: Api) -> list[str]:
    with closing(sqlite3.connect(api.server.layout.database)) as connection:
        return [row[0] for row in connection.execute("SELECT id FROM images ORDER BY id")]


def test_twenty_parallel_uploads_of_different_photos_all_land(api: Api) -> None:
    payloads = [jpeg_bytes(seed, (1024, 683)) for seed in range(PARALLEL)]
    assert len({hashlib.sha256(p).digest() for p in payloads}) == PARALLEL
    responses = upload_all(api, payloads)
    assert [r.status_code for r in responses] == [201] * PARALLEL, [r.text for r in responses]
    ids = sorted(r.json()["id"] for r in responses)
    assert image_rows(api) == ids
    with api.client() as client:
        for response, data in zip(responses, payloads, strict=True):
            image_id = response.json()["id"]
            assert image_id == hashlib.sha256(data).hexdigest()[:20]
            assert api.server.layout.original(image_id).read_bytes() == data
        listed = client.get("/api/images", params={"limit": "100"}).json()["images"]
    assert sorted(image["id"] for image in listed) == ids


def test_twenty_parallel_uploads_of_the_same_bytes_give_one_201(api: Api) -> None:
    data = jpeg_bytes(7, (1024, 683))
    responses = upload_all(api, [data] * PARALLEL)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (PARALLEL - 1), [r.text for r in responses]
    image_id = hashlib.sha256(data).hexdigest()[:20]
    assert {r.json()["id"] for r in responses} == {image_id}
    assert image_rows(api) == [image_id]

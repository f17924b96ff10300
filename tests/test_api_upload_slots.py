"""Uploads take a slot before their body is read; when every slot is busy and
``limits.upload_queue`` uploads already wait, the answer is 503 with ``Retry-After``
(origin/api/upload_slots.py)."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from indexer.errors import Overloaded
from origin.api.upload_slots import RETRY_AFTER_SECONDS, UploadSlots
from tests.api_support import Api, first_run_key, jpeg_bytes
from tests.conftest import Server, ServerFactory

Finish = Callable[[], tuple[int, dict[str, Any]]]


def metric(server: Server, name: str, **labels: str) -> float:
    text = httpx.get(server.url + "/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def wait_for_metric(server: Server, name: str, wanted: float) -> None:
    """Wait for a state, not a duration: the deadline only keeps a broken server from
    hanging the test."""
    deadline = time.monotonic() + 30
    while metric(server, name) != wanted:
        assert time.monotonic() < deadline, f"{name} never reached {wanted}"
        time.sleep(0.05)


@contextmanager
def stalled_upload(server: Server, key: str, data: bytes) -> Iterator[Finish]:
    """A raw upload whose client sent the headers and half the body, then paused;
    calling the yielded function sends the rest and returns (status, JSON body)."""
    head = (
        f"POST /api/images HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: image/jpeg\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    ).encode()
    half = len(data) // 2
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as connection:
        connection.sendall(head + data[:half])

        def finish() -> tuple[int, dict[str, Any]]:
            connection.sendall(data[half:])
            response = http.client.HTTPResponse(connection)
            response.begin()
            return response.status, json.loads(response.read())

        yield finish


def test_an_upload_beyond_the_queue_gets_503_with_retry_after(serve: ServerFactory) -> None:
    server = serve(nginx=False, config={
        "server": {"workers": 1}, "limits": {"upload_slots": 1, "upload_queue": 0}})
    api = Api(server, first_run_key(server))
    stalled, other = jpeg_bytes(70), jpeg_bytes(71)
    with stalled_upload(server, api.admin, stalled) as finish:
        wait_for_metric(server, "pictor_uploads_in_progress", 1)  # it holds the one slot
        refused = api.upload(other, "other.jpg")
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
        assert refused.json() == {"error": "too many uploads at once, retry shortly",
                                  "status": 503}
        with api.client() as client:  # reads do not wait for upload slots
            assert client.get("/api/images").json()["images"] == []
        status, created = finish()
    assert status == 201, created
    assert created["id"] == hashlib.sha256(stalled).hexdigest()[:20]
    assert server.layout.original(created["id"]).read_bytes() == stalled
    # The slot was given back: the refused upload goes through on retry.
    retried = api.upload(other, "other.jpg")
    assert retried.status_code == 201, retried.text
    assert metric(server, "pictor_uploads_in_progress") == 0
    assert metric(server, "pictor_uploads_total", result="overloaded") == 1
    assert metric(server, "pictor_uploads_total", result="created") == 2


async def hold_slot(slots: UploadSlots, entered: asyncio.Event, release: asyncio.Event) -> None:
    async with slots.slot():
        entered.set()
        await release.wait()


@pytest.mark.parametrize("queue", [0, 1, 3])
def test_all_slots_busy_and_queue_full_refuses_then_waiters_run_in_turn(queue: int) -> None:
    async def scenario() -> list[int]:
        slots, finished = UploadSlots(slots=1, queue=queue), []
        entered, release = asyncio.Event(), asyncio.Event()
        holder = asyncio.create_task(hold_slot(slots, entered, release))
        await entered.wait()

        async def wait_turn(number: int) -> None:
            async with slots.slot():
                finished.append(number)

        waiters = [asyncio.create_task(wait_turn(number)) for number in range(queue)]
        await asyncio.sleep(0)  # each waiter runs up to its wait for the semaphore
        assert slots.waiting == queue
        with pytest.raises(Overloaded) as refused:
            async with slots.slot():
                pytest.fail("admitted beyond the queue")
        assert refused.value.status == 503
        assert refused.value.headers == {"Retry-After": str(RETRY_AFTER_SECONDS)}
        release.set()
        await asyncio.gather(holder, *waiters)
        assert slots.waiting == 0
        return finished

    assert asyncio.run(scenario()) == list(range(queue))


def test_a_free_slot_admits_at_once_even_without_a_queue() -> None:
    async def scenario() -> int:
        slots = UploadSlots(slots=2, queue=0)
        async with slots.slot(), slots.slot():
            return slots.waiting

    assert asyncio.run(scenario()) == 0

"""Asking the worker: semantic search and similar images over a unix socket.

The request-serving processes never load CLIP, yet a text query needs CLIP's text
encoder, and cosine top-k needs the embedding matrix (200 MB at 100,000 images).  Both
live once, in the worker; origin processes and the CLI send it one JSON line and read
one JSON line back.  The socket is ``data/run/worker.sock`` (mode 0600).

Requests:  {"op": "search", "text": ..., "limit": n, "min_similarity": x}
           {"op": "similar", "id": ..., "limit": n, "min_similarity": x}
Answers:   {"hits": [[image_id, similarity], ...]}  or  {"error": ..., "status": 4xx/503}
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import socketserver
import sqlite3
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from indexer.embeddings import Scored
from indexer.errors import BadRequest, NotFound, PictorError, Unavailable
from indexer.jobs import worker_state
from indexer.layout import DataLayout

log = logging.getLogger("pictor.ai")
MAX_LINE = 64 * 1024
TIMEOUT_SECONDS = 60.0  # a query waits for at most one running batch
_SUN_PATH_MAX = 100  # AF_UNIX paths are limited to ~107 bytes

Handler = Callable[[dict[str, Any]], list[Scored]]


def socket_path(layout: DataLayout) -> Path:
    """``data/run/worker.sock``, or a short stand-in in the temp dir when that path is
    too long for AF_UNIX (deep test directories)."""
    path = layout.run / "worker.sock"
    if len(str(path)) <= _SUN_PATH_MAX:
        return path
    digest = hashlib.sha256(str(layout.root).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"pictor-{digest}.sock"


# ---------------------------------------------------------------- client


def ask(
    layout: DataLayout, connection: sqlite3.Connection, request: dict[str, Any]
) -> list[Scored]:
    """Send one request; PictorErrors as the worker raised them, Unavailable (503)
    naming the reason when the worker cannot answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(TIMEOUT_SECONDS)
            client.connect(str(socket_path(layout)))
            client.sendall(json.dumps(request).encode() + b"\n")
            answer = json.loads(_read_line(client))
    except (OSError, ValueError) as error:
        raise Unavailable(unavailable_message(connection), detail=str(error)) from None
    if "error" in answer:
        raise _error_for(int(answer.get("status", 503)), str(answer["error"]))
    return [Scored(str(image_id), float(score)) for image_id, score in answer["hits"]]


def _read_line(client: socket.socket) -> bytes:
    buffer = b""
    while not buffer.endswith(b"\n"):
        chunk = client.recv(MAX_LINE)
        if not chunk:
            break
        buffer += chunk
    return buffer


def unavailable_message(connection: sqlite3.Connection) -> str:
    state = worker_state(connection)
    reason = state["detail"] or state["state"]
    if state["state"] == "ready":  # ready but unreachable: it is restarting
        reason = "the worker is not reachable right now"
    return (
        "semantic search and similar images need the AI worker, "
        f"which is {state['state']}: {reason}"
    )


def _error_for(status: int, message: str) -> PictorError:
    kinds: dict[int, type[PictorError]] = {400: BadRequest, 404: NotFound}
    return kinds.get(status, Unavailable)(message)


def semantic_search(
    layout: DataLayout, connection: sqlite3.Connection, text: str, limit: int, min_similarity: float
) -> list[Scored]:
    request = {"op": "search", "text": text, "limit": limit, "min_similarity": min_similarity}
    return ask(layout, connection, request)


def similar_images(
    layout: DataLayout,
    connection: sqlite3.Connection,
    image_id: str,
    limit: int,
    min_similarity: float,
) -> list[Scored]:
    request = {"op": "similar", "id": image_id, "limit": limit, "min_similarity": min_similarity}
    return ask(layout, connection, request)


# ---------------------------------------------------------------- server (in the worker)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    handlers: dict[str, Handler]


class _Connection(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        try:
            request = json.loads(self.rfile.readline(MAX_LINE))
            if not isinstance(request, dict) or request.get("op") not in self.server.handlers:
                raise BadRequest("unknown request")
            hits = self.server.handlers[request["op"]](request)
            answer: dict[str, Any] = {"hits": [[h.image_id, h.similarity] for h in hits]}
        except PictorError as error:
            answer = {"error": error.public, "status": error.status}
        except (ValueError, KeyError, TypeError) as error:
            answer = {"error": f"malformed request: {error}", "status": 400}
        except Exception as error:  # keep the worker alive; the client gets a 503
            log.exception("AI request failed")
            answer = {"error": f"the AI worker failed: {error}", "status": 503}
        self.wfile.write(json.dumps(answer).encode() + b"\n")


def serve(layout: DataLayout, handlers: dict[str, Handler]) -> socketserver.BaseServer:
    """Listen on the worker socket in a background thread; ``shutdown()`` stops it."""
    path = socket_path(layout)
    path.unlink(missing_ok=True)
    server = _Server(str(path), _Connection)
    path.chmod(0o600)
    server.handlers = handlers
    threading.Thread(target=server.serve_forever, name="ai-service", daemon=True).start()
    return server

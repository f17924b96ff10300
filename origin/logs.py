"""Logging setup: plain lines by default, JSON lines with ``log.json = true``.

Every line logged while a request is handled carries its request id (the
``X-Request-Id`` Nginx sends, or one the origin made up): see :mod:`origin.middleware`.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar

from indexer.config import Settings

# Set per request by origin.middleware; each request runs in its own task, so its
# context (and this value) is private to it.
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Stamps ``record.request_id`` on every record that reaches the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", "-")
        if request_id != "-":
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if settings.log.json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s")
        )
    root = logging.getLogger("pictor")
    root.handlers[:] = [handler]
    root.setLevel(settings.log.level.upper())
    root.propagate = False

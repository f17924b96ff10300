"""Entry point for Hypercorn workers: ``hypercorn origin.asgi:app``.

Configuration comes from ``PICTOR_CONFIG`` / ``pictor.toml`` and ``PICTOR_*`` variables,
which ``pictor serve`` sets for its children.
"""

from __future__ import annotations

import multiprocessing
import signal

from indexer.config import load_settings
from origin.app import create_app
from origin.logs import configure_logging

if multiprocessing.parent_process() is not None:
    # A worker of Hypercorn's master stops gracefully when the master sets the shared
    # shutdown event: it stops accepting and lets requests in flight finish (within
    # --graceful-timeout).  But as soon as the first worker is done, the master sends
    # SIGTERM to the others, which would kill their renders half-way; the master then
    # waits for them to exit, and `pictor serve` kills them after its own deadline.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

settings = load_settings()
configure_logging(settings)
app = create_app(settings)

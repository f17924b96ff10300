"""Entry point for Hypercorn workers: ``hypercorn origin.asgi:app``.

Configuration comes from ``PICTOR_CONFIG`` / ``pictor.toml`` and ``PICTOR_*`` variables,
which ``pictor serve`` sets for its children.
"""

from __future__ import annotations

from indexer.config import load_settings
from origin.app import create_app
from origin.logs import configure_logging

settings = load_settings()
configure_logging(settings)
app = create_app(settings)

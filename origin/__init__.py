"""Pictor's origin: the ASGI app that renders delivery URLs and serves the API."""

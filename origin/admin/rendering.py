"""Jinja2 templates for the admin pages, with the security headers every page gets.

Templates are autoescaped.  The Content-Security-Policy allows scripts and styles from
our own origin only (no inline script), so an injected tag in a title or alt-text can
never run; images come from our own ``/img`` URLs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from origin.admin.guard import CSRF_FIELD, current_session

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; "
        "style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Templates(env=_environment)


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(count) < 1024 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TB"  # pragma: no cover - the loop always returns


def duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h {minutes}m" if days else f"{hours}h {minutes}m {secs}s"


def figure(value: Any, kind: str = "") -> str:
    """A status value for people: ``bytes``, ``duration``, ``ratio`` or a plain count."""
    if kind == "bytes":
        return human_bytes(float(value))
    if kind == "duration":
        return duration(float(value))
    if kind == "ratio":
        return f"{float(value):.1%}"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


_environment.filters["bytes"] = human_bytes
_environment.filters["figure"] = figure


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> Response:
    """Render a page; ``session`` and ``csrf_token`` are always in the context."""
    session = getattr(request.state, "admin_session", None)
    if session is None and name != "login.html":
        session = current_session(request)
    values: dict[str, Any] = {
        "session": session,
        "csrf_field": CSRF_FIELD,
        "csrf_token": session.csrf_token if session else "",
        "path": request.url.path,
        **(context or {}),
    }
    return templates.TemplateResponse(
        request, name, values, status_code=status_code, headers=SECURITY_HEADERS
    )

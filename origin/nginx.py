"""Render ``nginx/pictor.conf.j2`` for the current configuration and run Nginx."""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

import jinja2

from indexer.config import Settings
from indexer.layout import DataLayout

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "nginx"
MULTIPART_SLACK_BYTES = 64 * 1024  # headers of a multipart upload around the file itself
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def available() -> bool:
    return binary() is not None


def worker_user(layout: DataLayout) -> str | None:
    """Started as root, Nginx would drop its workers to ``nobody``, who may not be able to
    read the data directory (e.g. under a 0700 temp dir); run them as its owner instead."""
    if os.geteuid() != 0:
        return None
    return pwd.getpwuid(layout.root.stat().st_uid).pw_name


def render_config(settings: Settings, layout: DataLayout, socket: Path) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=False,  # noqa: S701 - renders an nginx config, not HTML
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    from origin.services import parse_presets

    security = settings.security
    parsed = parse_presets(settings.presets)
    presets = sorted((name, options.canonical) for name, options in parsed.items())
    return environment.get_template("pictor.conf.j2").render(
        user=worker_user(layout),
        run=layout.run,
        logs=layout.logs,
        cache=layout.cache,
        socket=socket,
        host=settings.server.host,
        port=settings.server.port,
        max_body=settings.limits.max_upload_bytes + MULTIPART_SLACK_BYTES,
        rate=settings.limits.rate_per_second,
        burst=settings.limits.rate_burst,
        avif=settings.output.avif,
        presets=presets,
        referers=security.referers,
        cors_origins=security.cors_origins,
        unsigned=security.unsigned_allowed,
        hit_locations=not security.presets_only,
    )


def write_config(settings: Settings, layout: DataLayout, socket: Path) -> Path:
    for name in TEMP_DIRS:
        (layout.run / "nginx" / name).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TEMPLATE_DIR / "proxy.conf", layout.run / "nginx-proxy.conf")
    path = layout.run / "nginx.conf"
    path.write_text(render_config(settings, layout, socket))
    return path


def command(layout: DataLayout, conf: Path) -> list[str]:
    return [binary() or "nginx", "-p", str(layout.run), "-c", str(conf), "-g", "daemon off;"]


def test_config(layout: DataLayout, conf: Path) -> list[str]:
    return [*command(layout, conf)[:-2], "-t", "-q"]

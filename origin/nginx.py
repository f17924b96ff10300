"""Render ``nginx/pictor.conf.j2`` for the current configuration and run Nginx."""

from __future__ import annotations

import os
import pwd
import re
import shutil
from pathlib import Path

import jinja2

from indexer.atomic import write_atomic
from indexer.config import ConfigError, SecuritySettings, Settings
from indexer.layout import DataLayout

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "nginx"
MULTIPART_SLACK_BYTES = 64 * 1024  # headers of a multipart upload around the file itself
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
SIGNATURE_PATTERN = "[A-Za-z0-9_-]{32}"
# What may be written into the configuration unquoted: anything else (a space, ';', '"')
# would change its meaning.  The origin accepts the same values.
_REFERER_HOST = re.compile(r"^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")
_CORS_ORIGIN = re.compile(r"^(\*|https?://[A-Za-z0-9.-]+(:\d{1,5})?)$")
_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})$")


def binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def available() -> bool:
    return binary() is not None


def unix_upstream(socket: Path) -> str:
    return f"unix:{socket}"


def tcp_upstream(address: str) -> str:
    """``HOST:PORT`` of an origin reachable over TCP (docker-compose); ValueError if not."""
    match = _HOST_PORT.match(address)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    return address


def listen_host(host: str) -> str:
    """Nginx wants IPv6 addresses in brackets: ``listen [::1]:8080``."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def default_socket(layout: DataLayout) -> Path:
    return layout.run / "origin.sock"


def worker_user(layout: DataLayout) -> str | None:
    """Started as root, Nginx would drop its workers to ``nobody``, who may not be able to
    read the data directory (e.g. under a 0700 temp dir); run them as its owner instead."""
    if os.geteuid() != 0:
        return None
    existing = next(path for path in (layout.root, *layout.root.parents) if path.exists())
    return pwd.getpwuid(existing.stat().st_uid).pw_name


def auth_locations(security: SecuritySettings) -> tuple[str, str]:
    """The URL auth parts Nginx may serve from disk, as a regex alternation, and a comment.

    Only what the origin would accept: signed URLs once a key exists, ``_`` in unsigned
    mode, nothing with ``presets_only`` (those URLs then always reach the origin: 403).
    """
    if security.presets_only:
        return "", ""
    parts = [(SIGNATURE_PATTERN, "Signed")] if security.signing_keys else []
    if security.unsigned_allowed:
        parts.append(("_", "unsigned"))
    pattern = "|".join(regex for regex, _ in parts)
    return pattern, " and ".join(name for _, name in parts) + " URLs"


def nginx_referers(referers: list[str]) -> list[str]:
    """Nginx's ``.example.com`` matches the domain and its subdomains, like the origin's
    ``*.example.com``; plain names are exact in both."""
    _check_all("security.referers", referers, _REFERER_HOST, "a host name like *.example.com")
    return ["." + host[2:] if host.startswith("*.") else host for host in referers]


def nginx_origins(origins: list[str]) -> list[str]:
    _check_all("security.cors_origins", origins, _CORS_ORIGIN, "an origin like https://a.example")
    return origins


def check_settings(settings: Settings) -> None:
    """Fail at startup on values that cannot go into the configuration, with or without
    Nginx: they are wrong either way."""
    nginx_referers(settings.security.referers)
    nginx_origins(settings.security.cors_origins)


def _check_all(key: str, values: list[str], pattern: re.Pattern[str], expected: str) -> None:
    for value in values:
        if not pattern.match(value):
            raise ConfigError(f"invalid configuration key {key}: {value!r} is not {expected}")


def proxy_settings() -> str:
    """``nginx/proxy.conf`` without its comments, inlined into each proxying location so
    the rendered configuration is one self-contained file."""
    lines = (TEMPLATE_DIR / "proxy.conf").read_text().splitlines()
    return "\n".join(line for line in lines if line.strip() and not line.startswith("#"))


def render_config(settings: Settings, layout: DataLayout, upstream: str) -> str:
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
    auth_pattern, auth_comment = auth_locations(security)
    return environment.get_template("pictor.conf.j2").render(
        user=worker_user(layout),
        run=layout.run,
        logs=layout.logs,
        cache=layout.cache,
        upstream=upstream,
        proxy=proxy_settings(),
        host=listen_host(settings.server.host),
        port=settings.server.port,
        max_upload=settings.limits.max_upload_bytes,
        max_body=settings.limits.max_upload_bytes + MULTIPART_SLACK_BYTES,
        rate=settings.limits.rate_per_second,
        burst=settings.limits.rate_burst,
        avif=settings.output.avif,
        presets=presets,
        referers=nginx_referers(security.referers),
        cors_origins=nginx_origins(security.cors_origins),
        auth_pattern=auth_pattern,
        auth_comment=auth_comment,
    )


def prepare(layout: DataLayout) -> None:
    """Directories the configuration names: Nginx creates only the last path component."""
    layout.create()
    for name in TEMP_DIRS:
        (layout.run / "nginx" / name).mkdir(parents=True, exist_ok=True)


def write_config(settings: Settings, layout: DataLayout, upstream: str, target: Path) -> Path:
    text = render_config(settings, layout, upstream)  # a bad setting fails before any mkdir
    prepare(layout)
    write_atomic(target, text.encode())
    return target


def config_path(layout: DataLayout) -> Path:
    return layout.run / "nginx.conf"


def command(layout: DataLayout, conf: Path) -> list[str]:
    return [binary() or "nginx", "-p", str(layout.run), "-c", str(conf), "-g", "daemon off;"]


def test_command(layout: DataLayout, conf: Path) -> list[str]:
    return [binary() or "nginx", "-p", str(layout.run), "-c", str(conf), "-t", "-q"]

"""Helpers for the HTTP API tests: a running server with its first-run admin key,
keys made with the real ``pictor keys create``, and small distinct test images."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import httpx
from PIL import Image

from indexer.db import open_database
from indexer.keys import create_key
from tests.conftest import CORPUS, Server, clean_environment

KEY_PATTERN = re.compile(r"^pk_[A-Za-z0-9_-]{43}$", re.M)


@dataclass
class Api:
    """A running server plus the admin key it printed on first run."""

    server: Server
    admin: str

    @property
    def url(self) -> str:
        return self.server.url

    def client(
        self, key: str | None = None, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Client:
        """A client sending ``key`` (default: the admin key) as its bearer token."""
        auth = {"Authorization": f"Bearer {key or self.admin}"}
        return self.server.client(headers={**auth, **(headers or {})}, **kwargs)

    def key(self, name: str, scopes: str, *origins: str) -> str:
        """A new key, written straight into the server's database (``pictor keys
        create`` itself is tested in test_keys.py; a subprocess per key is slow)."""
        with closing(open_database(self.server.layout.database)) as connection:
            return create_key(connection, name, [scopes], origins)[1]

    def upload(self, data: bytes, name: str = "photo.jpg", **fields: str) -> httpx.Response:
        with self.client() as client:
            return client.post("/api/images", files={"file": (name, data)}, data=fields)


def first_run_key(server: Server) -> str:
    found = KEY_PATTERN.findall(server.logs())
    assert len(found) == 1, server.logs()
    return found[0]


def run_pictor(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    config = server.layout.root.parent / "pictor.toml"
    return subprocess.run(
        [sys.executable, "-m", "origin.cli", *args, "--config", str(config),
         "--data", str(server.layout.root)],
        capture_output=True, text=True, env=clean_environment(), check=False,
    )


def pictor_keys_create(server: Server, name: str, scopes: str, origins: tuple[str, ...]) -> str:
    extra = [arg for origin in origins for arg in ("--origin", origin)]
    result = run_pictor(server, "keys", "create", "--name", name, "--scope", scopes, *extra)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert KEY_PATTERN.match(last), result.stdout
    return last


def jpeg_bytes(seed: int, size: tuple[int, int] = (320, 240), quality: int = 85) -> bytes:
    """A small photo-like JPEG, different for every seed: a crop of a corpus photo."""
    photos = sorted(p for p in CORPUS.glob("*.jpg"))
    with Image.open(photos[seed % len(photos)]) as source:
        source.draft("RGB", (size[0] * 4, size[1] * 4))  # decode at reduced size: fast
        picture = source.convert("RGB")
    step = seed // len(photos)
    box = (step * 7, step * 5, picture.width - step * 3, picture.height - step * 2)
    small = picture.crop(box).resize(size)
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image

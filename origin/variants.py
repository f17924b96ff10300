"""The variant cache on disk: where a URL's file lives, and writing it exactly once.

Layout (relative to ``data/cache``), which Nginx's ``try_files`` computes from the URL::

    ab/abcdef0123456789abcd/{auth}/{canonical options}.{ext}

``auth`` is the URL's signature, or ``_`` for unsigned URLs and presets (a preset is
stored under its canonical option string, so editing a preset never serves stale
files).  The signature is part of the path so that a tampered signature never finds a
file: Nginx misses, and the origin answers 403.  Negotiated legacy variants
(JPEG, or PNG for transparent images) are stored as ``{options}.auto.jpg`` /
``{options}.auto.png`` so that an explicit ``.jpg`` of a transparent image is never
served to a browser that negotiated.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from indexer.atomic import write_atomic
from indexer.layout import DataLayout, contained

UNSIGNED = "_"


@dataclass(frozen=True)
class VariantKey:
    image_id: str
    auth: str  # signature, or "_"
    options: str  # canonical option string
    fmt: str  # jpg png webp avif gif
    negotiated: bool = False

    @property
    def relative(self) -> str:
        legacy = self.negotiated and self.fmt in ("jpg", "png")
        suffix = f"auto.{self.fmt}" if legacy else self.fmt
        return f"{self.image_id[:2]}/{self.image_id}/{self.auth}/{self.options}.{suffix}"


def variant_path(layout: DataLayout, key: VariantKey) -> Path:
    return contained(layout.cache, key.relative)


def etag_for(stat: os.stat_result) -> str:
    """The ETag Nginx sends for a static file, so hits and misses agree."""
    return f'"{int(stat.st_mtime):x}-{stat.st_size:x}"'


@contextmanager
def file_lock(layout: DataLayout, target: Path) -> Iterator[None]:
    """An exclusive lock per target, shared by every worker process.

    The lock file is removed afterwards; a process that locked a file which was
    unlinked meanwhile notices (inode changed) and locks the new one instead.
    """
    name = hashlib.sha1(str(target).encode(), usedforsecurity=False).hexdigest()
    path = layout.locks / f"{name}.lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def render_once(
    layout: DataLayout, target: Path, render: Callable[[], bytes], keep: bool, original: Path
) -> bytes | None:
    """Render ``target`` unless another process did while we waited for the lock.

    Returns the new bytes, or None when the file already exists.  With ``keep=False``
    (cache budget 0, or the disk is low) nothing is written, and nothing is written
    either when the image was deleted while it rendered (no orphaned variants).
    """
    with file_lock(layout, target):
        if target.exists():
            return None
        data = render()
        if keep and original.exists():
            write_atomic(target, data)
        return data

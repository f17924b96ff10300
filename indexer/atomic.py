"""Crash-safe file writes: temp file in the target directory, fsync, rename.

A reader (Nginx, the renderer) sees either no file or the whole file, never a
half-written one; after ``durable=True`` returns, the file survives a power cut.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

TEMP_SUFFIX = ".tmp"


def temp_name(target: Path) -> Path:
    # Leading dot and a ``.tmp`` suffix: never a name Nginx maps a URL to.
    return target.with_name(f".{target.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")


def write_atomic(target: Path, data: bytes, *, durable: bool = False, mode: int = 0o644) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_name(target)
    try:
        with open(temp, "xb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        temp.chmod(mode)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_directory(target.parent)


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Forget cached variants whose signature no configured key makes any more.

Nginx serves any file it finds under ``cache/ab/{id}/{signature}/``; the signature is
part of the path precisely so that a wrong one finds nothing (DESIGN §4: a wrong
signature is refused, also when the variant is on disk).  When a key is removed — say
it leaked — the files cached under its signatures must go too, or its URLs would keep
working.  ``pictor serve`` runs this at startup whenever the set of keys changed.

Each signature folder belongs to exactly one signed string: its options are the file
names' stem and its target is ``{id}.{ext}`` (or ``{id}`` for Accept-negotiated URLs),
so the signature can be checked again without any other record.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from indexer.atomic import write_atomic
from indexer.layout import DataLayout
from origin.signing import verify
from origin.urls import UNSIGNED_MARK

FINGERPRINT_FILE = "signing-keys.sha256"
EXPLICIT = ("jpg", "png", "webp", "avif", "gif")
NEGOTIATED_ONLY = ("auto.jpg", "auto.png")


def keys_fingerprint(keys: Sequence[str]) -> str:
    material = "\0".join(sorted(keys)).encode("utf-8")
    return hashlib.sha256(b"pictor signing keys\0" + material).hexdigest()


def prune_if_keys_changed(layout: DataLayout, keys: Sequence[str]) -> int | None:
    """Prune when the keys differ from the last run's; None when nothing changed."""
    record = layout.run / FINGERPRINT_FILE
    fingerprint = keys_fingerprint(keys)
    if record.is_file() and record.read_text().strip() == fingerprint:
        return None
    removed = prune_stale_signatures(layout, keys)
    write_atomic(record, fingerprint.encode())
    return removed


def prune_stale_signatures(layout: DataLayout, keys: Sequence[str]) -> int:
    """Remove every signature folder no key in ``keys`` signs; return how many went."""
    removed = 0
    for folder in _signature_folders(layout.cache):
        if not _still_signed(folder, keys):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def _signature_folders(cache: Path) -> Iterator[Path]:
    for folder in cache.glob("*/*/*"):
        if folder.is_dir() and folder.name != UNSIGNED_MARK and not folder.is_symlink():
            yield folder


def _still_signed(folder: Path, keys: Sequence[str]) -> bool:
    image_id, signature = folder.parent.name, folder.name
    for file in folder.iterdir():
        split = _split_name(file.name)
        if split is None:
            continue
        options, suffix = split
        targets = [image_id] if suffix in NEGOTIATED_ONLY or suffix in ("avif", "webp") else []
        if suffix in EXPLICIT:
            targets += [f"{image_id}.{suffix}"] + ([f"{image_id}.jpeg"] if suffix == "jpg" else [])
        return any(verify(keys, signature, options, target) for target in targets)
    return False  # nothing recognisable inside: nothing worth keeping


def _split_name(name: str) -> tuple[str, str] | None:
    """``w_800,dpr_1.5.auto.jpg`` → (``w_800,dpr_1.5``, ``auto.jpg``)."""
    for suffix in (*NEGOTIATED_ONLY, *EXPLICIT):
        if name.endswith("." + suffix) and not name.startswith("."):
            return name[: -len(suffix) - 1], suffix
    return None

"""Where everything lives inside the data directory (DESIGN §9).

    data/originals/ab/abcdef…        the uploaded bytes, content-addressed, never modified
    data/pyramid/ab/abcdef…/1280.jpg downscaled, oriented, sRGB copies used to render misses fast
    data/cache/ab/abcdef…/…          rendered variants, at the paths Nginx computes from URLs
    data/pictor.db                   the SQLite index
    data/run/                        Nginx config, pid, sockets, locks and temp files
    data/logs/                       access and error logs

Every path handed out is checked to stay inside the data directory.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

IMAGE_ID = re.compile(r"^[0-9a-f]{20}$")


class PathEscape(ValueError):
    """A computed path would leave its root directory."""


def contained(root: Path, *parts: str) -> Path:
    """``root / parts`` if it stays inside ``root`` (thumbor's ``commonpath`` check)."""
    candidate = Path(os.path.normpath(root.joinpath(*parts)))
    if os.path.commonpath([root, candidate]) != str(root):
        raise PathEscape(f"{candidate} is outside {root}")
    return candidate


def is_image_id(text: str) -> bool:
    return bool(IMAGE_ID.match(text))


@dataclass(frozen=True)
class DataLayout:
    root: Path

    @classmethod
    def at(cls, root: Path) -> DataLayout:
        return cls(Path(os.path.abspath(root)))

    @property
    def originals(self) -> Path:
        return self.root / "originals"

    @property
    def pyramid(self) -> Path:
        return self.root / "pyramid"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def database(self) -> Path:
        return self.root / "pictor.db"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def locks(self) -> Path:
        return self.run / "locks"

    @property
    def temp(self) -> Path:
        return self.run / "tmp"

    def original(self, image_id: str) -> Path:
        return contained(self.originals, image_id[:2], _checked(image_id))

    def pyramid_dir(self, image_id: str) -> Path:
        return contained(self.pyramid, image_id[:2], _checked(image_id))

    def variant_dir(self, image_id: str) -> Path:
        return contained(self.cache, image_id[:2], _checked(image_id))

    def create(self) -> None:
        """Make the directory tree.  Served folders are world-readable (0755) because
        Nginx workers started by root run as an unprivileged user."""
        for path in (
            self.root,
            self.originals,
            self.pyramid,
            self.cache,
            self.run,
            self.logs,
            self.locks,
            self.temp,
        ):
            path.mkdir(parents=True, exist_ok=True)
        for path in (self.root, self.cache):
            path.chmod(0o755)


def _checked(image_id: str) -> str:
    if not is_image_id(image_id):
        raise PathEscape(f"not an image id: {image_id!r}")
    return image_id

"""Everything a request handler needs, built once per worker process."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Collection
from dataclasses import dataclass, field

from indexer.config import ConfigError, Settings
from indexer.db import open_database
from indexer.errors import BadRequest
from indexer.layout import DataLayout
from origin.api.upload_slots import UploadSlots
from origin.options import Options, parse_options
from origin.renderer import Renderer


@dataclass
class Services:
    settings: Settings
    layout: DataLayout
    db: sqlite3.Connection
    renderer: Renderer
    presets: dict[str, Options]
    upload_slots: UploadSlots
    started: float = field(default_factory=time.time)

    @classmethod
    def create(cls, settings: Settings) -> Services:
        layout = DataLayout.at(settings.data_dir)
        layout.create()
        return cls(
            settings=settings,
            layout=layout,
            db=open_database(layout.database),
            renderer=Renderer(
                settings.limits.render_threads or default_render_threads(settings.server.workers),
                settings.limits.render_queue,
            ),
            presets=parse_presets(settings.presets, settings.watermarks),
            upload_slots=UploadSlots.from_limits(settings.limits),
        )

    def close(self) -> None:
        self.renderer.shutdown()
        self.db.close()


def default_render_threads(workers: int) -> int:
    """The CPU cores shared among the workers, at least one thread each.  More threads
    than cores add memory (each render may hold a decoded original), not throughput:
    bench/results/load.md."""
    return max(1, (os.cpu_count() or 1) // workers)


def parse_presets(
    presets: dict[str, str], watermarks: Collection[str] | None = None
) -> dict[str, Options]:
    """Validate preset option strings at startup; a bad one names its key.  With
    ``watermarks`` (the configured names), a preset's ``wm`` must be one of them."""
    parsed = {}
    for name, text in presets.items():
        try:
            parsed[name] = parse_options(text)
        except BadRequest as error:
            raise ConfigError(f"invalid configuration key presets.{name}: {error.public}") from None
        mark = parsed[name].wm
        if watermarks is not None and mark is not None and mark not in watermarks:
            raise ConfigError(
                f"invalid configuration key presets.{name}: unknown watermark {mark!r}"
            )
    return parsed

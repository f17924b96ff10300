"""``pictor worker``: the indexer's job loop and the only process that loads CLIP.

Start: report 'loading', load the model (or report 'unavailable' with the reason and
idle — the supervisor must not see a crash loop for a missing optional part), get the
label embeddings, requeue what a dead worker left running, enqueue images that lack an
embedding from this model (a model change re-embeds everything), then serve semantic
queries on the worker socket while taking jobs in batches of ``ai.batch_size``.

Per job: read the smallest pyramid level (or the original), embed, score the
vocabulary, draft alt-text and title, and store it all with the job's completion in one
transaction.  A failing image is retried with backoff; it never stops the loop.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from PIL import Image

from indexer import jobs
from indexer.autotag import LabelSet, compose_draft, label_set, score_tags, store_results
from indexer.catalog import ImageRecord, get_image
from indexer.config import ConfigError, Settings
from indexer.db import open_database, transaction
from indexer.embeddings import EmbeddingIndex, Scored
from indexer.errors import BadRequest, NotFound
from indexer.imaging import to_srgb, upright
from indexer.layout import DataLayout
from indexer.masters import pixel_source
from indexer.pyramid import level_name
from indexer.vocabulary import load_vocabulary

if TYPE_CHECKING:
    from indexer.clip import ClipModel

log = logging.getLogger("pictor.worker")
HEARTBEAT_SECONDS = 10.0
MAX_QUERY_LIMIT = 1000


@dataclass
class Engine:
    """Everything a loaded worker needs to process jobs and answer queries."""

    model: ClipModel
    labels: LabelSet
    index: EmbeddingIndex


def clip_picture(layout: DataLayout, record: ImageRecord) -> Image.Image:
    """The smallest stored copy of the image (CLIP looks at 224 px), upright, RGB,
    transparency flattened onto white."""
    if record.pyramid:
        path = layout.pyramid_dir(record.id) / level_name(min(record.pyramid), record.has_alpha)
    else:
        path = pixel_source(record, layout.original(record.id), layout.pyramid_dir(record.id))
    return load_clip_picture(path)


def load_clip_picture(path: Path) -> Image.Image:
    with Image.open(path) as image:
        image.draft("RGB", (448, 448))  # JPEG: decode at a reduced scale
        picture = to_srgb(upright(image))
        picture.load()
    if picture.mode == "RGBA":
        background = Image.new("RGB", picture.size, "white")
        background.paste(picture, mask=picture.getchannel("A"))
        return background
    return picture.convert("RGB")


class Worker:
    def __init__(self, settings: Settings, connection: sqlite3.Connection) -> None:
        self.settings = settings
        self.ai = settings.ai
        self.layout = DataLayout.at(settings.data_dir)
        self.connection = connection
        self.stop = threading.Event()
        self.last_heartbeat = 0.0
        self.unavailable_reason = ""

    def report(self, state: str, detail: str = "", model: str = "") -> None:
        jobs.report_state(self.connection, jobs.CLIP, state, detail, model)
        self.last_heartbeat = time.monotonic()

    def start_engine(self) -> Engine | None:
        """Load the model and labels; None (after reporting why) when AI cannot run."""
        from indexer.clip import ClipUnavailable, load_model, missing_extra

        reason = missing_extra() or (None if self.ai.enabled else "ai.enabled is false")
        if reason is not None:
            self._unavailable(reason)
            return None
        self.report("loading", f"loading CLIP model {self.ai.model} ({self.ai.pretrained})")
        try:
            model = load_model(self.ai)
            vocabulary = load_vocabulary(self.ai.vocabulary)
        except (ClipUnavailable, ConfigError) as error:
            self._unavailable(str(error))
            return None
        labels = label_set(self.connection, model, vocabulary, self._progress(model.identity))
        index = EmbeddingIndex(model.identity)
        index.load(self.connection)
        return Engine(model, labels, index)

    def _unavailable(self, reason: str) -> None:
        log.warning("pictor worker: AI is unavailable, jobs wait: %s", reason)
        self.unavailable_reason = reason
        self.report("unavailable", reason)

    def _progress(self, model: str) -> Callable[[str], None]:
        return lambda message: self.report("loading", message, model)

    def run(self) -> int:
        engine = self.start_engine()
        if engine is None:
            self.idle_until_stopped()
            return 0
        requeued = jobs.requeue_running(self.connection)
        enqueued = jobs.enqueue_missing(self.connection, engine.model.identity)
        log.info("worker ready: %d jobs requeued, %d images to (re-)embed", requeued, enqueued)
        from indexer import ai_service

        server = ai_service.serve(self.layout, self.handlers(engine))
        try:
            self.loop(engine)
        finally:
            server.shutdown()
            server.server_close()
            ai_service.socket_path(self.layout).unlink(missing_ok=True)
            self.report("stopped", "the worker was stopped", engine.model.identity)
        return 0

    def idle_until_stopped(self) -> None:
        """Stay up without AI (a dead child would stop ``pictor serve``)."""
        while not self.stop.wait(HEARTBEAT_SECONDS):
            self.report("unavailable", self.unavailable_reason)

    def loop(self, engine: Engine) -> None:
        model = engine.model.identity
        self.report("ready", "", model)
        while not self.stop.is_set():
            try:
                batch = jobs.claim(self.connection, jobs.CLIP, self.ai.batch_size)
                if batch:
                    self.process(engine, batch)
            except sqlite3.OperationalError as error:  # locked past the busy timeout
                log.warning("database busy, retrying: %s", error)
                batch = []
            if not batch and self.stop.wait(self.ai.poll_seconds):
                break
            if time.monotonic() - self.last_heartbeat > HEARTBEAT_SECONDS:
                engine.index.refresh_if_shrunk(self.connection)
                self.report("ready", "", model)

    def process(self, engine: Engine, batch: list[jobs.Job]) -> None:
        loaded: list[tuple[jobs.Job, Image.Image]] = []
        for job in batch:
            try:
                record = get_image(self.connection, job.image_id)
                if record is not None:  # deleted meanwhile: its job row went with it
                    loaded.append((job, clip_picture(self.layout, record)))
            except (OSError, ValueError, Image.DecompressionBombError) as error:
                self.fail(job, f"cannot read the image: {error}")
        if not loaded:
            return
        try:
            vectors = engine.model.encode_images([picture for _, picture in loaded])
        except Exception as error:  # a torch failure must not stop the worker
            log.exception("embedding a batch failed")
            for job, _ in loaded:
                self.fail(job, f"embedding failed: {error}")
            return
        for (job, _), vector in zip(loaded, vectors, strict=True):
            self.store(engine, job, vector)
        engine.index.add([job.image_id for job, _ in loaded], vectors)

    def store(self, engine: Engine, job: jobs.Job, vector: Any) -> None:
        tags = score_tags(engine.labels, vector, self.ai)
        draft = compose_draft(tags) if self.ai.alt_text else None
        model = engine.model.identity
        try:
            with transaction(self.connection):
                store_results(self.connection, job.image_id, model, vector, tags, draft)
                jobs.complete(self.connection, job)
        except sqlite3.IntegrityError:  # the image was deleted between read and write
            log.info("image %s vanished while being tagged", job.image_id)

    def fail(self, job: jobs.Job, error: str) -> None:
        state = jobs.fail(self.connection, job, error, self.ai.max_attempts, self.ai.retry_seconds)
        log.warning("job %d (image %s) %s: %s", job.id, job.image_id, state, error)

    def handlers(self, engine: Engine) -> dict[str, Any]:
        return {
            "search": lambda request: search_handler(engine, request),
            "similar": lambda request: similar_handler(engine, request),
        }


def _query_bounds(request: dict[str, Any]) -> tuple[int, float]:
    limit, min_similarity = int(request["limit"]), float(request["min_similarity"])
    if not 1 <= limit <= MAX_QUERY_LIMIT:
        raise BadRequest(f"limit must be 1..{MAX_QUERY_LIMIT}")
    return limit, min_similarity


def search_handler(engine: Engine, request: dict[str, Any]) -> list[Scored]:
    text = str(request["text"]).strip()
    if not text:
        raise BadRequest("q: give some text to search for")
    limit, min_similarity = _query_bounds(request)
    vector = engine.model.encode_texts([text[:1000]])[0]
    return engine.index.search(vector, limit, min_similarity)


def similar_handler(engine: Engine, request: dict[str, Any]) -> list[Scored]:
    image_id = str(request["id"])
    limit, min_similarity = _query_bounds(request)
    vector = engine.index.vector_of(image_id)
    if vector is None:
        raise NotFound(f"image {image_id} has no CLIP embedding yet (its job is queued)")
    hits = engine.index.search(vector, limit + 1, min_similarity)
    return [hit for hit in hits if hit.image_id != image_id][:limit]


def main(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT."""
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    with closing(open_database(layout.database)) as connection:
        worker = Worker(settings, connection)

        def stop(signum: int, frame: FrameType | None) -> None:
            worker.stop.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        return worker.run()

"""From an image embedding to AI tags and an alt-text/title draft (numpy, no torch).

Tagging is zero-shot CLIP as open_clip does it: each label's text embedding is the
normalised mean of its prompt templates' embeddings; an image's score for a label is
the cosine similarity.  Labels are judged one by one against their own threshold
(``ai.tag_threshold`` + the vocabulary's offsets) — not a softmax over the vocabulary,
which suits single-label classification only — and the ``ai.tag_top_k`` with the
largest margin over their threshold are kept.

The draft is a deterministic sentence from the best scene, the best two subjects and
the best style: "A black and white photo of a beach with a dog and a surfboard."
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from indexer import embeddings
from indexer.config import AISettings
from indexer.drafts import Draft, write_draft
from indexer.vocabulary import Label, Vocabulary, article, cache_key

Vectors = npt.NDArray[np.float32]
SUBJECTS_IN_ALT = 2
PROGRESS_CHUNK = 512


class TextEncoder(Protocol):
    identity: str

    def encode_texts(self, texts: list[str]) -> Vectors: ...


@dataclass(frozen=True)
class LabelSet:
    """A vocabulary and its label embeddings for one model (rows in label order)."""

    vocabulary: Vocabulary
    matrix: Vectors

    @property
    def thresholds_offsets(self) -> Vectors:
        return np.array([label.offset for label in self.vocabulary.labels], np.float32)


@dataclass(frozen=True)
class ScoredTag:
    label: Label
    score: float


def ensemble(prompt_vectors: Vectors, prompts_per_label: list[int]) -> Vectors:
    """Average each label's (normalised) prompt embeddings and normalise the mean."""
    rows, start = [], 0
    for count in prompts_per_label:
        mean = prompt_vectors[start : start + count].mean(axis=0)
        rows.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
        start += count
    return np.asarray(np.stack(rows), dtype=np.float32)


def label_set(
    connection: sqlite3.Connection,
    encoder: TextEncoder,
    vocabulary: Vocabulary,
    progress: Callable[[str], None] = lambda message: None,
) -> LabelSet:
    """The label embeddings, from the cache or computed once and cached."""
    key = cache_key(encoder.identity, vocabulary)
    row = connection.execute(
        "SELECT labels, dim, vectors FROM label_embeddings WHERE cache_key = ?", (key,)
    ).fetchone()
    if row is not None and json.loads(row[0]) == vocabulary.names:
        matrix = embeddings.from_blob(row[2]).reshape(len(vocabulary.labels), row[1])
        return LabelSet(vocabulary, matrix)
    prompts = _encode_with_progress(encoder, vocabulary.all_prompts(), progress)
    matrix = ensemble(prompts, [len(label.prompts) for label in vocabulary.labels])
    connection.execute(
        "INSERT OR REPLACE INTO label_embeddings (cache_key, model, labels, dim, vectors)"
        " VALUES (?, ?, ?, ?, ?)",
        (
            key,
            encoder.identity,
            json.dumps(vocabulary.names),
            matrix.shape[1],
            embeddings.to_blob(matrix),
        ),
    )
    return LabelSet(vocabulary, matrix)


def _encode_with_progress(
    encoder: TextEncoder, texts: list[str], progress: Callable[[str], None]
) -> Vectors:
    """Encode in chunks, reporting after each: ViT-B-32 needs about a minute for the
    shipped vocabulary on a CPU, and the worker's heartbeat must not go silent."""
    chunks = []
    for start in range(0, len(texts), PROGRESS_CHUNK):
        progress(f"embedding tag prompts {start}/{len(texts)} (once per model and vocabulary)")
        chunks.append(encoder.encode_texts(texts[start : start + PROGRESS_CHUNK]))
    return np.concatenate(chunks)


def score_tags(labels: LabelSet, image_vector: Vectors, settings: AISettings) -> list[ScoredTag]:
    """Labels at or above their threshold, best margin first, at most tag_top_k."""
    scores = labels.matrix @ image_vector
    margins = scores - (settings.tag_threshold + labels.thresholds_offsets)
    passing = np.flatnonzero(margins >= 0)
    best = passing[np.argsort(-margins[passing], kind="stable")][: settings.tag_top_k]
    return [ScoredTag(labels.vocabulary.labels[i], float(scores[i])) for i in best]


def compose_draft(tags: list[ScoredTag]) -> Draft | None:
    """Alt-text and title from the best scene, subjects and style; None when the tags
    name neither a scene nor a subject."""
    scene = next((t.label for t in tags if t.label.role == "scene"), None)
    subjects = [t.label for t in tags if t.label.role == "subject"][:SUBJECTS_IN_ALT]
    style = next((t.label for t in tags if t.label.role == "style"), None)
    if scene is None and not subjects:
        return None
    photo = article(f"{style.name} photo", frozenset()) if style else "a photo"
    things = " and ".join(subject.phrase for subject in subjects)
    if scene is not None:
        alt = f"{photo} of {scene.phrase}" + (f" with {things}" if things else "")
        title = scene.name + (f" with {subjects[0].name}" if subjects else "")
    else:
        alt = f"{photo} of {things}"
        title = " and ".join(subject.name for subject in subjects)
    return Draft(title=_capitalised(title), alt=_capitalised(alt) + ".")


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def store_results(
    connection: sqlite3.Connection,
    image_id: str,
    model: str,
    vector: Vectors,
    tags: list[ScoredTag],
    draft: Draft | None,
) -> None:
    """Embedding, AI tags (replacing earlier AI tags, never touching human ones) and
    the draft; call inside the caller's transaction."""
    embeddings.store(connection, image_id, model, vector)
    connection.execute("DELETE FROM tags WHERE image_id = ? AND source = 'ai'", (image_id,))
    connection.executemany(
        "INSERT INTO tags (image_id, tag, source, score) VALUES (?, ?, 'ai', ?)"
        " ON CONFLICT (image_id, tag) DO NOTHING",
        [(image_id, tag.label.name, round(tag.score, 4)) for tag in tags],
    )
    if draft is not None:
        write_draft(connection, image_id, draft, model)

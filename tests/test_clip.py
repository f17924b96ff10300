"""CLIP: the real open_clip loader on a tiny saved model, the vocabulary, tag scoring,
alt-text drafts, the label-embedding cache — and torch staying out of the origin."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from indexer.autotag import (
    LabelSet,
    ScoredTag,
    compose_draft,
    ensemble,
    label_set,
    score_tags,
)
from indexer.config import AISettings, ConfigError
from indexer.db import open_database
from indexer.drafts import Draft
from indexer.vocabulary import Label, Vocabulary, article, load_vocabulary
from tests.clip_support import require_ai, save_tiny_model
from tests.conftest import REPO, clean_environment, photo


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return save_tiny_model(tmp_path_factory.mktemp("clip"))


# ---------------------------------------------------------------- loading and encoding


def test_real_loader_loads_the_saved_weights_and_embeds(tiny: dict[str, Any]) -> None:
    import torch

    from indexer.clip import load_model

    model = load_model(AISettings(**tiny))
    saved = torch.load(tiny["pretrained"], weights_only=True)
    loaded = model.model.state_dict()
    assert all(torch.equal(saved[name], loaded[name]) for name in saved)  # not a random init
    pictures = [Image.open(photo("LadyBird.jpg")), Image.open(photo("goldfish.png"))]
    vectors = model.encode_images(pictures)
    assert vectors.shape == (2, 64) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(model.encode_images(pictures[:1]), vectors[:1], atol=1e-5)  # deterministic
    assert not np.allclose(vectors[0], vectors[1])
    texts = model.encode_texts(["a photo of a dog.", "a photo of a cat."])
    assert texts.shape == (2, 64)
    assert np.allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)


def test_model_identity_follows_the_checkpoint_file(tiny: dict[str, Any], tmp_path: Path) -> None:
    from indexer.clip import model_identity

    first = model_identity(AISettings(**tiny))
    assert first.startswith("pictor-tiny/") and tiny["pretrained"] in first
    other = save_tiny_model(tmp_path, seed=1)
    assert model_identity(AISettings(**other)) != first
    assert model_identity(AISettings()) == "ViT-B-32/laion2b_s34b_b79k"


def test_weights_that_cannot_be_fetched_give_a_clear_reason(tiny: dict[str, Any]) -> None:
    from indexer.clip import ClipUnavailable, load_model

    settings = AISettings(**{**tiny, "pretrained": "laion2b_s34b_b79k"})
    with pytest.raises(ClipUnavailable, match="cannot load CLIP model pictor-tiny"):
        load_model(settings)
    missing_file = AISettings(**{**tiny, "pretrained": "/nonexistent/weights.pt"})
    with pytest.raises(ClipUnavailable, match=re.escape("/nonexistent/weights.pt")):
        load_model(missing_file)


def test_a_missing_extra_is_named_without_importing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from indexer import clip

    require_ai()
    assert clip.missing_extra() is None
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "open_clip" else real(name)
    )
    assert "open_clip missing" in (clip.missing_extra() or "")
    with pytest.raises(clip.ClipUnavailable, match="pip install 'pictor\\[ai\\]'"):
        clip.load_model(AISettings())


def test_origin_processes_never_import_torch() -> None:
    """The request-serving code, its CLI and the supervisor load neither torch nor
    open_clip (checked in a fresh interpreter; the worker is the only place for them)."""
    code = (
        "import sys\n"
        "import origin.app, origin.asgi, origin.cli, origin.commands, origin.serve\n"
        "from origin.app import create_app\n"
        "from indexer.config import Settings\n"
        "create_app(Settings())\n"
        "import indexer.worker, indexer.ai_service, indexer.autotag, indexer.search\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'open_clip')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=clean_environment(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------- vocabulary


def test_shipped_vocabulary_is_large_unique_and_ensembled() -> None:
    vocabulary = load_vocabulary()
    names = vocabulary.names
    assert 500 <= len(names) <= 1100
    assert len(set(names)) == len(names)
    roles = {label.role for label in vocabulary.labels}
    assert roles == {"scene", "subject", "style", "other"}
    assert all(len(label.prompts) >= 3 for label in vocabulary.labels)
    dog = next(label for label in vocabulary.labels if label.name == "dog")
    assert "a photo of a dog." in dog.prompts
    assert len(vocabulary.digest) == 64


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("dog", "a dog"),
        ("owl", "an owl"),
        ("umbrella", "an umbrella"),
        ("uniform", "a uniform"),
        ("hour", "an hour"),
        ("rice", "rice"),
        ("black and white photo", "a black and white photo"),
        ("aerial photo", "an aerial photo"),
    ],
)
def test_articles(phrase: str, expected: str) -> None:
    assert article(phrase, frozenset({"rice"})) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "[category.x]\nrole = 'scene'\ntemplates = ['no placeholder']\nlabels = ['a']",
            "templates",
        ),
        ("[category.x]\nrole = 'villain'\ntemplates = ['{}']\nlabels = ['a']", "role"),
        ("[category.x]\ntemplates = ['{}']\nlabels = ['a', 'a']", "repeated"),
        ("[category.x]\ntemplates = ['{}']\nlabels = ['Dog']", "lower case"),
        ("mass_nouns = [", "ai.vocabulary"),
        ("", "no labels"),
    ],
)
def test_bad_vocabulary_files_are_configuration_errors(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "vocabulary.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=problem):
        load_vocabulary(path)


# ---------------------------------------------------------------- scoring and drafts


def _label(name: str, role: Any = "subject", offset: float = 0.0) -> Label:
    return Label(name, "test", role, offset, (f"a photo of {name}.",), article(name, frozenset()))


def test_ensemble_averages_prompts_then_normalises() -> None:
    prompts = np.array([[1, 0], [0, 1], [1, 0]], np.float32)
    labels = ensemble(prompts, [2, 1])
    assert np.allclose(labels, [[2**-0.5, 2**-0.5], [1, 0]])


def _set(labels: list[Label], rows: list[list[float]]) -> LabelSet:
    matrix = np.array(rows, np.float32)
    return LabelSet(Vocabulary(tuple(labels), "x" * 64), matrix)


@pytest.mark.parametrize(
    ("threshold", "top_k", "expected"),
    [
        (0.5, 10, ["dog", "beach", "cat"]),  # margins 0.4, 0.3 (0.9-0.1-0.5), 0.1
        (0.5, 2, ["dog", "beach"]),
        (0.85, 10, ["dog"]),
        (0.95, 10, []),
    ],
)
def test_score_tags_uses_per_label_thresholds_and_top_k(
    threshold: float, top_k: int, expected: list[str]
) -> None:
    labels = _set(
        [_label("dog"), _label("beach", "scene", offset=0.1), _label("cat"), _label("car")],
        [[0.9, 0], [0.9, 0], [0.6, 0], [0.1, 0]],
    )
    settings = AISettings(tag_threshold=threshold, tag_top_k=top_k)
    tags = score_tags(labels, np.array([1, 0], np.float32), settings)
    assert [t.label.name for t in tags] == expected
    assert all(isinstance(t.score, float) for t in tags)


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (
            [("beach", "scene"), ("dog", "subject"), ("surfboard", "subject"), ("ball", "subject")],
            Draft("Beach with dog", "A photo of a beach with a dog and a surfboard."),
        ),
        (
            [("owl", "subject"), ("forest", "scene"), ("black and white", "style")],
            Draft("Forest with owl", "A black and white photo of a forest with an owl."),
        ),
        (
            [("aerial", "style"), ("island", "scene")],
            Draft("Island", "An aerial photo of an island."),
        ),
        ([("cat", "subject"), ("running", "other")], Draft("Cat", "A photo of a cat.")),
        ([("red", "other"), ("vintage", "style")], None),
        ([], None),
    ],
)
def test_drafts_are_deterministic_sentences(
    tags: list[tuple[str, Any]], expected: Draft | None
) -> None:
    scored = [ScoredTag(_label(name, role), 0.3) for name, role in tags]
    assert compose_draft(scored) == expected


class CountingEncoder:
    identity = "fake/model"

    def __init__(self) -> None:
        self.calls = 0

    def encode_texts(self, texts: list[str]) -> Any:
        self.calls += 1
        rng = np.random.default_rng(len(texts))
        vectors = rng.normal(size=(len(texts), 8)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Any]:
    with closing(open_database(tmp_path / "pictor.db")) as connection:
        yield connection


def test_label_embeddings_are_cached_by_model_and_vocabulary(database: Any, tmp_path: Path) -> None:
    encoder = CountingEncoder()
    vocabulary = load_vocabulary()
    messages: list[str] = []
    first = label_set(database, encoder, vocabulary, messages.append)
    second = label_set(database, encoder, vocabulary, messages.append)
    chunks = -(-len(vocabulary.all_prompts()) // 512)
    assert encoder.calls == chunks == len(messages)  # the heartbeat after every chunk
    assert messages[-1].startswith(f"embedding tag prompts {(chunks - 1) * 512}/")
    assert np.array_equal(first.matrix, second.matrix)
    assert first.matrix.shape == (len(vocabulary.labels), 8)
    smaller = tmp_path / "small.toml"
    smaller.write_text("[category.x]\ntemplates = ['{}', 'a photo of {}']\nlabels = ['dog', 'cat']")
    changed = label_set(database, encoder, load_vocabulary(smaller))
    assert encoder.calls == chunks + 1 and changed.matrix.shape == (2, 8)
    encoder.identity = "another/model"
    label_set(database, encoder, vocabulary)
    assert encoder.calls == 2 * chunks + 1

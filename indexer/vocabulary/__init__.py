"""The tag vocabulary: labels, their categories, prompt templates and thresholds.

Loaded from ``concepts.toml`` next to this file, or from ``ai.vocabulary``.  Pure data
(no torch): the worker turns it into text embeddings, alt-text uses the roles.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from indexer.config import ConfigError

SHIPPED = Path(__file__).resolve().parent / "concepts.toml"
Role = Literal["scene", "subject", "style", "other"]
ROLES: tuple[Role, ...] = ("scene", "subject", "style", "other")
VOWEL_SOUNDS = ("a", "e", "i", "o", "u", "hour", "honest")
# Words starting with a vowel letter but a consonant sound ("a uniform", "a one-…").
CONSONANT_SOUNDS = ("uni", "use", "one", "euro")


@dataclass(frozen=True)
class Label:
    name: str
    category: str
    role: Role
    offset: float  # added to ai.tag_threshold
    prompts: tuple[str, ...]
    phrase: str  # with its article, for sentences: "a dog", "an owl", "rice"


@dataclass(frozen=True)
class Vocabulary:
    labels: tuple[Label, ...]
    digest: str  # sha256 of the source text: part of the label-embedding cache key

    @property
    def names(self) -> list[str]:
        return [label.name for label in self.labels]

    def all_prompts(self) -> list[str]:
        return [prompt for label in self.labels for prompt in label.prompts]


def article(phrase: str, mass_nouns: frozenset[str]) -> str:
    """``dog`` → ``a dog``, ``owl`` → ``an owl``, ``rice`` → ``rice``."""
    if phrase in mass_nouns:
        return phrase
    starts_vowel = phrase.startswith(VOWEL_SOUNDS) and not phrase.startswith(CONSONANT_SOUNDS)
    return f"{'an' if starts_vowel else 'a'} {phrase}"


def load_vocabulary(path: Path | None = None) -> Vocabulary:
    """Parse and check a vocabulary file; ConfigError names what is wrong."""
    source = path or SHIPPED
    try:
        text = source.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"invalid configuration key ai.vocabulary: {source}: {error}") from None
    mass_nouns = frozenset(data.get("mass_nouns", []))
    offsets: dict[str, float] = data.get("thresholds", {})
    labels: list[Label] = []
    for category, spec in data.get("category", {}).items():
        labels.extend(_category(category, spec, mass_nouns, offsets, source))
    _check_unique(labels, source)
    return Vocabulary(tuple(labels), hashlib.sha256(text.encode()).hexdigest())


def _category(
    name: str,
    spec: dict[str, Any],
    mass_nouns: frozenset[str],
    offsets: dict[str, float],
    source: Path,
) -> list[Label]:
    role = spec.get("role", "other")
    templates = spec.get("templates", [])
    if role not in ROLES or not templates or not all(_placeholder(t) for t in templates):
        raise ConfigError(
            f"invalid configuration key ai.vocabulary: {source}: category {name} needs a role"
            f" in {ROLES} and templates each containing {{}} or {{label}}"
        )
    base = float(spec.get("offset", 0.0))
    return [
        Label(
            name=label,
            category=name,
            role=role,
            offset=base + float(offsets.get(label, 0.0)),
            prompts=tuple(t.format(article(label, mass_nouns), label=label) for t in templates),
            phrase=article(label, mass_nouns),
        )
        for label in spec.get("labels", [])
    ]


def _placeholder(template: str) -> bool:
    return "{}" in template or "{label}" in template


def _check_unique(labels: list[Label], source: Path) -> None:
    seen: set[str] = set()
    for label in labels:
        if label.name in seen or label.name != label.name.strip().lower() or not label.name:
            raise ConfigError(
                f"invalid configuration key ai.vocabulary: {source}: label {label.name!r}"
                " is repeated or not lower case"
            )
        seen.add(label.name)
    if not labels:
        raise ConfigError(f"invalid configuration key ai.vocabulary: {source}: no labels")


def cache_key(model_identity: str, vocabulary: Vocabulary) -> str:
    """Label embeddings depend on exactly the model and the vocabulary text."""
    material = json.dumps([model_identity, vocabulary.digest])
    return hashlib.sha256(material.encode()).hexdigest()

"""CLIP through open_clip: load the configured model, embed images and texts.

Only the worker process imports this module: ``import torch`` alone costs seconds and
hundreds of megabytes, which the request-serving processes must never pay.  Everything
else talks to the worker (indexer/ai_service.py) or reads stored embeddings.

The loading code is the real one for every configuration:
``open_clip.create_model_and_transforms(ai.model, pretrained=ai.pretrained)`` where
``pretrained`` is a tag (downloaded on first use into the Hugging Face cache) or a local
checkpoint file; ``ai.model_configs`` registers extra model configs first.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from indexer.config import AISettings

log = logging.getLogger("pictor.clip")
Vectors = npt.NDArray[np.float32]
TEXT_BATCH = 256
AI_PACKAGES = ("torch", "open_clip")


class ClipUnavailable(Exception):
    """The model cannot be used: the extra is missing, or the weights are."""


def missing_extra() -> str | None:
    """Why the ai extra cannot run, or None — without importing torch."""
    for package in AI_PACKAGES:
        if importlib.util.find_spec(package) is None:
            return f"the ai extra is not installed ({package} missing): pip install 'pictor[ai]'"
    return None


def model_identity(settings: AISettings) -> str:
    """Names the weights an embedding came from; stored with every embedding.  A local
    checkpoint is identified by path, size and modification time."""
    identity = f"{settings.model}/{settings.pretrained}"
    checkpoint = Path(settings.pretrained)
    if checkpoint.is_file():
        stat = checkpoint.stat()
        identity += f"@{stat.st_size}-{stat.st_mtime_ns}"
    return identity


@dataclass
class ClipModel:
    identity: str
    model: Any
    preprocess: Any
    tokenizer: Any
    dim: int

    def encode_images(self, pictures: list[Image.Image]) -> Vectors:
        """L2-normalised image embeddings, one row per picture."""
        import torch

        batch = torch.stack([self.preprocess(picture.convert("RGB")) for picture in pictures])
        with torch.inference_mode():
            features = self.model.encode_image(batch)
        return _normalised(features.float().numpy())

    def encode_texts(self, texts: list[str]) -> Vectors:
        """L2-normalised text embeddings, one row per text."""
        import torch

        rows = []
        for start in range(0, len(texts), TEXT_BATCH):
            tokens = self.tokenizer(texts[start : start + TEXT_BATCH])
            with torch.inference_mode():
                rows.append(self.model.encode_text(tokens).float().numpy())
        return _normalised(np.concatenate(rows) if rows else np.empty((0, self.dim), np.float32))


def _normalised(features: npt.NDArray[Any]) -> Vectors:
    features = features.astype(np.float32)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return np.asarray(features / np.maximum(norms, 1e-12), dtype=np.float32)


def load_model(settings: AISettings) -> ClipModel:
    """Load the configured model once; ClipUnavailable says why it cannot be."""
    if (reason := missing_extra()) is not None:
        raise ClipUnavailable(reason)
    import open_clip
    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if settings.model_configs is not None:
        open_clip.add_model_config(settings.model_configs)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            settings.model, pretrained=settings.pretrained or None
        )
        tokenizer = open_clip.get_tokenizer(settings.model)
    except Exception as error:  # open_clip raises RuntimeError, ValueError, OSError, …
        raise ClipUnavailable(
            f"cannot load CLIP model {settings.model} with weights {settings.pretrained!r}: {error}"
        ) from error
    model.eval()
    with torch.inference_mode():
        dim = int(model.encode_text(tokenizer(["a"])).shape[-1])
    log.info("CLIP model %s (%s) loaded, %d dimensions", settings.model, settings.pretrained, dim)
    return ClipModel(model_identity(settings), model, preprocess, tokenizer, dim)

"""A tiny open_clip model saved to disk, loaded through the real loading code.

CLIP weights cannot be downloaded here, so tests write a small model config (the file
stem is the model name), save a freshly initialised model's ``state_dict`` with
``torch.save``, and point ``ai.model``/``ai.pretrained``/``ai.model_configs`` at them:
``open_clip.create_model_and_transforms(name, pretrained=<file>)`` then runs exactly as
with real weights.  Its tags are arbitrary (random weights): tests assert mechanics.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from indexer.clip import missing_extra
from tests.conftest import require

os.environ["HF_HUB_OFFLINE"] = "1"  # a missing tag must fail at once, not after DNS retries
TINY_NAME = "pictor-tiny"
TINY_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def require_ai() -> None:
    require(missing_extra() is None, "the ai extra (torch, open_clip)")


def save_tiny_model(directory: Path, seed: int = 0) -> dict[str, Any]:
    """Write config and weights into ``directory``; return the ``[ai]`` settings."""
    require_ai()
    import open_clip
    import torch

    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{TINY_NAME}.json").write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(directory)
    torch.manual_seed(seed)
    model = open_clip.create_model(TINY_NAME)
    weights = directory / f"{TINY_NAME}-{seed}.pt"
    torch.save(model.state_dict(), weights)
    return {"model": TINY_NAME, "pretrained": str(weights), "model_configs": str(directory)}

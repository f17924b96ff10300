"""``pictor sign``: the contract's signatures, canonical options, unsigned mode, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import VECTORS, clean_environment, write_toml

CASES = json.loads(VECTORS.read_text())["signatures"]


def pictor_sign(tmp_path: Path, keys: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    conf = write_toml(tmp_path / "pictor.toml", {"security": {"signing_keys": keys}})
    return subprocess.run(
        [sys.executable, "-m", "origin.cli", "sign", "--config", str(conf), *args],
        capture_output=True,
        text=True,
        env=clean_environment(),
        cwd=tmp_path,
        timeout=60,
    )


@pytest.mark.parametrize("case", CASES, ids=[c["target"] for c in CASES])
def test_prints_the_contract_path(tmp_path: Path, case: dict[str, str]) -> None:
    result = pictor_sign(tmp_path, [case["key"], "second-key"], case["options"], case["target"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == case["path"]


def test_signs_the_canonical_options(tmp_path: Path) -> None:
    case = CASES[1]  # fit_cover,h_200,w_200
    result = pictor_sign(tmp_path, [case["key"]], "w_0200,h_200,fit_cover,g_center", case["target"])
    assert result.stdout.strip() == case["path"]


def test_unsigned_mode_prints_the_unsigned_path(tmp_path: Path) -> None:
    result = pictor_sign(tmp_path, [], "h_10,w_20", "0123456789abcdef0123.png")
    assert result.returncode == 0
    assert result.stdout.strip() == "/img/_/h_10,w_20/0123456789abcdef0123.png"
    assert "no signing key" in result.stderr


@pytest.mark.parametrize(
    ("options", "target", "message"),
    [
        ("w_0", "0123456789abcdef0123.jpg", "w_0"),
        ("w_10", "0123456789abcdef0123.bmp", "bmp"),
        ("w_10", "not-an-id.jpg", "image id"),
    ],
)
def test_bad_input_fails_with_the_reason(
    tmp_path: Path, options: str, target: str, message: str
) -> None:
    result = pictor_sign(tmp_path, ["k"], options, target)
    assert result.returncode == 1
    assert message in result.stderr and result.stdout == ""

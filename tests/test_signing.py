"""Signatures: the contract's test vectors, rotation, tampering."""

from __future__ import annotations

import json

import pytest

from origin.signing import sign, signed_path, signed_string, verify
from tests.conftest import VECTORS

CASES = json.loads(VECTORS.read_text())["signatures"]


@pytest.mark.parametrize("case", CASES, ids=[c["target"] for c in CASES])
def test_contract_vectors(case: dict[str, str]) -> None:
    assert signed_string(case["options"], case["target"]) == case["signed_string"]
    assert sign(case["key"], case["options"], case["target"]) == case["sig"]
    assert signed_path(case["key"], case["options"], case["target"]) == case["path"]


@pytest.mark.parametrize("case", CASES, ids=[c["target"] for c in CASES])
def test_any_active_key_verifies(case: dict[str, str]) -> None:
    keys = ["old-key", case["key"], "newer-key"]
    assert verify(keys, case["sig"], case["options"], case["target"])
    assert not verify(["old-key", "newer-key"], case["sig"], case["options"], case["target"])
    assert not verify([], case["sig"], case["options"], case["target"])


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: (
            c["sig"][:-1] + ("A" if c["sig"][-1] != "A" else "B"),
            c["options"],
            c["target"],
        ),
        lambda c: (c["sig"], c["options"] + ",q_10", c["target"]),
        lambda c: (c["sig"], c["options"], c["target"].replace("0123", "0124", 1)),
        lambda c: (c["sig"].lower(), c["options"], c["target"]),
        lambda c: (c["sig"][:31], c["options"], c["target"]),
        lambda c: ("é" * 32, c["options"], c["target"]),
    ],
)
def test_tampering_fails(tamper: object) -> None:
    for case in CASES:
        signature, options, target = tamper(case)  # type: ignore[operator]
        if (signature, options, target) == (case["sig"], case["options"], case["target"]):
            continue
        assert not verify([case["key"]], signature, options, target)


def test_signature_length_and_alphabet() -> None:
    signature = sign("k", "w_1", "0123456789abcdef0123.jpg")
    assert len(signature) == 32
    assert set(signature) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

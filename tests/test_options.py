"""Option strings: canonical forms (contract vectors) and every error, table-driven."""

from __future__ import annotations

import json

import pytest

from indexer.errors import BadRequest
from origin.options import canonicalize, parse_options
from tests.conftest import VECTORS


def contract_vectors() -> list[tuple[str, str]]:
    data = json.loads(VECTORS.read_text())
    return [(case["in"], case["canonical"]) for case in data["canonical_options"]]


@pytest.mark.parametrize(("given", "canonical"), contract_vectors())
def test_contract_canonical_vectors(given: str, canonical: str) -> None:
    assert canonicalize(given) == canonical


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("-", "-"),
        ("fit_inside", "-"),
        ("g_center,rs_lanczos,dpr_1,enlarge_0", "-"),
        ("h_10", "h_10"),
        ("w_8192,h_1", "h_1,w_8192"),
        ("dpr_1.50", "dpr_1.5"),
        ("dpr_4", "dpr_4"),
        ("dpr_1.23456", "dpr_1.2346"),
        ("fx_0.5,fy_0.25", "fx_0.5,fy_0.25"),
        ("fx_0,fy_1", "fx_0,fy_1"),
        ("fx_.5", None),
        ("q_high", "q_high"),
        ("q_007", "q_7"),
        ("bg_FFAA00", "bg_ffaa00"),
        ("bg_ffaa00ff", "bg_ffaa00"),
        ("bg_ffaa0080", "bg_ffaa0080"),
        ("rot_90,flip_hv", "flip_hv,rot_90"),
        ("rot_0", "-"),
        ("enlarge_1,fit_cover,g_focal,w_10,h_10", "enlarge_1,fit_cover,g_focal,h_10,w_10"),
        ("rs_nearest", "rs_nearest"),
        ("fit_contain,w_5,h_5", "fit_contain,h_5,w_5"),
    ],
)
def test_canonical_forms(given: str, canonical: str | None) -> None:
    if canonical is None:
        with pytest.raises(BadRequest):
            canonicalize(given)
    else:
        assert canonicalize(given) == canonical


@pytest.mark.parametrize(
    ("given", "names"),
    [
        ("", "empty"),
        ("w", "'w'"),
        ("w_", "'w_'"),
        ("_5", "'_5'"),
        ("w_0", "'w_0'"),
        ("w_8193", "'w_8193'"),
        ("w_-5", "'w_-5'"),
        ("w_1.5", "'w_1.5'"),
        ("h_abc", "'h_abc'"),
        ("fit_fill", "'fit_fill'"),
        ("g_middle", "'g_middle'"),
        ("fx_1.5", "'fx_1.5'"),
        ("fy_-0.1", "'fy_-0.1'"),
        ("dpr_0.5", "'dpr_0.5'"),
        ("dpr_5", "'dpr_5'"),
        ("q_0", "'q_0'"),
        ("q_101", "'q_101'"),
        ("q_best", "'q_best'"),
        ("enlarge_2", "'enlarge_2'"),
        ("rs_cubic", "'rs_cubic'"),
        ("bg_fff", "'bg_fff'"),
        ("bg_gggggg", "'bg_gggggg'"),
        ("rot_45", "'rot_45'"),
        ("flip_x", "'flip_x'"),
        ("zoom_2", "'zoom'"),
        ("w_10,w_20", "'w'"),
        ("w_10,,h_10", "''"),
        ("W_10", "'W'"),
        ("w_10 ", "'w_10 '"),
    ],
)
def test_bad_tokens_are_named(given: str, names: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_options(given)
    assert caught.value.status == 400
    assert names in caught.value.public


def test_overlong_option_string_is_refused() -> None:
    with pytest.raises(BadRequest, match="longer than"):
        parse_options(",".join(["w_10"] * 200))


def test_parsed_values() -> None:
    options = parse_options(
        "bg_ff000080,dpr_2,enlarge_1,fit_cover,fx_0.2,g_ne,h_50,q_low,rot_270,w_100"
    )
    assert (options.w, options.h, options.dpr, options.fit) == (100, 50, 2.0, "cover")
    assert options.bg == (255, 0, 0, 128)
    assert options.focal == (0.2, 0.5)
    assert (options.quality, options.rot, options.enlarge, options.gravity) == (
        "low",
        270,
        True,
        "ne",
    )

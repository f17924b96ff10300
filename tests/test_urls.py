"""Delivery path parsing: shapes, ids, extensions."""

from __future__ import annotations

import pytest

from indexer.errors import PictorError
from origin.urls import parse_path, with_options

ID = "0123456789abcdef0123"
SIG = "VZKZt5jbvqGkdOInH8SK2AF4EE9I6ab3"


@pytest.mark.parametrize(
    ("path", "kind", "ext", "options"),
    [
        (f"/img/{SIG}/w_800/{ID}.webp", "signed", "webp", "w_800"),
        (f"/img/{SIG}/w_800/{ID}", "signed", None, "w_800"),
        (f"/img/_/w_800/{ID}.jpeg", "unsigned", "jpg", "w_800"),
        (f"/img/_/-/{ID}.png", "unsigned", "png", "-"),
        (f"/img/thumb/{ID}.avif", "preset", "avif", ""),
        (f"/img/thumb/{ID}", "preset", None, ""),
    ],
)
def test_shapes(path: str, kind: str, ext: str | None, options: str) -> None:
    parsed = parse_path(path)
    assert (parsed.kind, parsed.target.ext, parsed.options) == (kind, ext, options)
    assert parsed.target.image_id == ID


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/img/_/w_800/{ID}.bmp", 400),
        (f"/img/_/w_800/{ID}.", 400),
        (f"/img/_/w_800/{ID}.JPG", 400),
        ("/img/_/w_800/0123456789ABCDEF0123.jpg", 404),
        ("/img/_/w_800/0123.jpg", 404),
        ("/img/_/w_800/../../etc/passwd", 400),
        ("/img/_/w_800/..%2f..%2fetc.jpg", 404),
        (f"/img/{ID}.jpg", 400),
        (f"/img/a/b/c/{ID}.jpg", 400),
        (f"/img//w_800/{ID}.jpg", 400),
        (f"/img/short/w_800/{ID}.jpg", 403),
        (f"/img/{'x' * 33}/w_800/{ID}.jpg", 403),
    ],
)
def test_errors(path: str, status: int) -> None:
    with pytest.raises(PictorError) as caught:
        parse_path(path)
    assert caught.value.status == status


def test_with_options_keeps_signature_and_target() -> None:
    parsed = parse_path(f"/img/{SIG}/w_800,h_10/{ID}.jpeg")
    assert with_options(parsed, "h_10,w_800") == f"/img/{SIG}/h_10,w_800/{ID}.jpeg"

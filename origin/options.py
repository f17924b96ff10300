"""Transformation options: parsing, validation and the canonical form (DESIGN §2).

Pure functions only.  An option string is ``key_value`` tokens joined by commas, or
``-`` for "no transformation".  The canonical form sorts tokens by key, drops
defaults and writes numbers in their shortest form; a rendered file exists on disk
only under its canonical string.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Literal

from indexer.errors import BadRequest

NO_OPTIONS = "-"
MAX_OPTIONS_LENGTH = 512
# The canonical string is a file name in the variant cache (``{options}.auto.webp``):
# it must stay within NAME_MAX (255 bytes) for the file to be written and found by Nginx.
MAX_CANONICAL_LENGTH = 240

Fit = Literal["inside", "cover", "contain"]
COMPASS = ("center", "n", "s", "e", "w", "ne", "nw", "se", "sw")
GRAVITIES = (*COMPASS, "focal", "smart", "face")
FITS = ("inside", "cover", "contain")
RESAMPLERS = ("lanczos", "bicubic", "bilinear", "box", "nearest")
QUALITY_LEVELS = ("low", "medium", "high")
FLIPS = ("h", "v", "hv")
ROTATIONS = (0, 90, 180, 270)

# Keys reserved by DESIGN §2 whose rendering is not built yet: refused like unknown keys
# but with a message that says so.
NOT_YET_SUPPORTED: tuple[str, ...] = ()
# Tuning keys that mean nothing without the key they tune.
REQUIRES = {"wmpos": "wm", "wmop": "wm", "txtsize": "txt", "txtcolor": "txt", "txtpos": "txt"}
# Text overlays are bounded so that option strings, cache keys and render cost stay small.
MAX_TEXT_CHARS = 100
MAX_TEXT_BYTES = 120  # UTF-8; 160 base64url characters, room left for the other tokens
MAX_TEXT_LINES = 4
DEFAULT_TEXT_POSITION = "s"

_DIGITS = re.compile(r"^[0-9]{1,6}$")
_DECIMAL = re.compile(r"^[0-9]{1,4}(\.[0-9]{1,8})?$")
_HEX_COLOUR = re.compile(r"^[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$")
_BYTES = re.compile(r"^[0-9]{1,9}$")
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_DECIMAL_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class Options:
    """Parsed, validated options.  ``canonical`` is the string they came from, canonicalised."""

    canonical: str = NO_OPTIONS
    w: int | None = None
    h: int | None = None
    fit: Fit = "inside"
    gravity: str = "center"
    fx: float | None = None
    fy: float | None = None
    dpr: float = 1.0
    quality: int | str | None = None
    enlarge: bool = False
    resample: str = "lanczos"
    bg: tuple[int, int, int, int] | None = None
    rot: int = 0
    flip: str | None = None
    blur: float | None = None  # Gaussian sigma in output pixels
    sharpen: float | None = None  # unsharp-mask sigma in output pixels
    gray: bool = False
    sepia: bool = False
    wm: str | None = None  # watermark name from configuration
    wmpos: str | None = None  # None: the watermark's configured position
    wmop: float | None = None  # None: the watermark's configured opacity
    txt: str | None = None  # decoded UTF-8 text
    txtsize: int | None = None  # CSS pixels (times dpr); None: relative to the output
    txtcolor: tuple[int, int, int, int] = (255, 255, 255, 255)
    txtpos: str = DEFAULT_TEXT_POSITION
    maxb: int | None = None  # largest acceptable output in bytes

    @property
    def focal(self) -> tuple[float, float] | None:
        """An explicit focal point given by ``fx``/``fy`` (the missing one defaults to 0.5)."""
        if self.fx is None and self.fy is None:
            return None
        return (0.5 if self.fx is None else self.fx, 0.5 if self.fy is None else self.fy)


# --- value parsers: each returns (canonical text or None when it is the default, value)

Parsed = tuple[str | None, object]


def _integer(low: int, high: int) -> Callable[[str], Parsed]:
    def parse(text: str) -> Parsed:
        if not _DIGITS.match(text) or not low <= int(text) <= high:
            raise ValueError(f"expected a whole number {low}..{high}")
        return str(int(text)), int(text)

    return parse


def _decimal(low: str, high: str, default: str | None = None) -> Callable[[str], Parsed]:
    def parse(text: str) -> Parsed:
        if not _DECIMAL.match(text):
            raise ValueError(f"expected a number {low}..{high}")
        try:
            number = Decimal(text).quantize(_DECIMAL_PLACES, rounding=ROUND_HALF_EVEN)
        except InvalidOperation:
            raise ValueError(f"expected a number {low}..{high}") from None
        if not Decimal(low) <= number <= Decimal(high):
            raise ValueError(f"expected a number {low}..{high}")
        shortest = _shortest(number)
        return (None if shortest == default else shortest), float(number)

    return parse


def _shortest(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _choice(choices: tuple[str, ...], default: str | None) -> Callable[[str], Parsed]:
    def parse(text: str) -> Parsed:
        if text not in choices:
            raise ValueError("expected one of " + ", ".join(choices))
        return (None if text == default else text), text

    return parse


def _quality(text: str) -> Parsed:
    if text in QUALITY_LEVELS:
        return text, text
    return _integer(1, 100)(text)


def _flag(text: str) -> Parsed:
    if text not in ("0", "1"):
        raise ValueError("expected 0 or 1")
    return (None if text == "0" else "1"), text == "1"


def _rotation(text: str) -> Parsed:
    if not _DIGITS.match(text) or int(text) not in ROTATIONS:
        raise ValueError("expected 90, 180 or 270")
    return (None if int(text) == 0 else str(int(text))), int(text)


def _colour(text: str) -> Parsed:
    if not _HEX_COLOUR.match(text):
        raise ValueError("expected hex rrggbb or rrggbbaa")
    text = text.lower()
    if text.endswith("ff") and len(text) == 8:
        text = text[:6]
    rgba = bytes.fromhex(text if len(text) == 8 else text + "ff")
    return text, (rgba[0], rgba[1], rgba[2], rgba[3])


def _text_colour(text: str) -> Parsed:
    shown, value = _colour(text)
    return (None if shown == "ffffff" else shown), value


def _byte_count(low: int, high: int) -> Callable[[str], Parsed]:
    def parse(text: str) -> Parsed:
        if not _BYTES.match(text) or not low <= int(text) <= high:
            raise ValueError(f"expected a byte count {low}..{high}")
        return str(int(text)), int(text)

    return parse


def _name(text: str) -> Parsed:
    if not _NAME.match(text):
        raise ValueError(f"expected a configured name matching {_NAME.pattern}")
    return text, text


def _text(encoded: str) -> Parsed:
    """base64url UTF-8 (padding optional); canonical form is unpadded."""
    if not _BASE64URL.match(encoded):
        raise ValueError("expected base64url-encoded UTF-8 text")
    if len(encoded.rstrip("=")) > -(-MAX_TEXT_BYTES * 4 // 3):
        raise ValueError(f"text longer than {MAX_TEXT_BYTES} UTF-8 bytes")
    bare = encoded.rstrip("=")
    try:
        text = base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("expected base64url-encoded UTF-8 text") from None
    _check_text(text)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("="), text


def _check_text(text: str) -> None:
    if not text.strip():
        raise ValueError("text is empty")
    if len(text) > MAX_TEXT_CHARS or len(text.encode()) > MAX_TEXT_BYTES:
        raise ValueError(
            f"text longer than {MAX_TEXT_CHARS} characters or {MAX_TEXT_BYTES} UTF-8 bytes"
        )
    if text.count("\n") >= MAX_TEXT_LINES:
        raise ValueError(f"text has more than {MAX_TEXT_LINES} lines")
    if any((ord(char) < 32 and char != "\n") or ord(char) == 127 for char in text):
        raise ValueError("text contains control characters")


PARSERS: dict[str, tuple[str, Callable[[str], Parsed]]] = {
    # url key: (Options field, parser)
    "w": ("w", _integer(1, 8192)),
    "h": ("h", _integer(1, 8192)),
    "fit": ("fit", _choice(FITS, "inside")),
    "g": ("gravity", _choice(GRAVITIES, "center")),
    "fx": ("fx", _decimal("0", "1")),
    "fy": ("fy", _decimal("0", "1")),
    "dpr": ("dpr", _decimal("1", "4", default="1")),
    "q": ("quality", _quality),
    "enlarge": ("enlarge", _flag),
    "rs": ("resample", _choice(RESAMPLERS, "lanczos")),
    "bg": ("bg", _colour),
    "rot": ("rot", _rotation),
    "flip": ("flip", _choice(FLIPS, None)),
    "blur": ("blur", _decimal("0.3", "100")),
    "sharpen": ("sharpen", _decimal("0.3", "100")),
    "gray": ("gray", _flag),
    "sepia": ("sepia", _flag),
    "wm": ("wm", _name),
    "wmpos": ("wmpos", _choice(COMPASS, None)),
    "wmop": ("wmop", _decimal("0", "1")),
    "txt": ("txt", _text),
    "txtsize": ("txtsize", _integer(4, 512)),
    "txtcolor": ("txtcolor", _text_colour),
    "txtpos": ("txtpos", _choice(COMPASS, DEFAULT_TEXT_POSITION)),
    "maxb": ("maxb", _byte_count(256, 100_000_000)),
}


def parse_options(text: str) -> Options:
    """Parse an option string; raise :class:`BadRequest` naming the first bad token."""
    if text == NO_OPTIONS:
        return Options()
    if not text:
        raise BadRequest("empty option string (use '-' for no transformation)")
    if len(text) > MAX_OPTIONS_LENGTH:
        raise BadRequest(f"option string longer than {MAX_OPTIONS_LENGTH} characters")
    fields: dict[str, object] = {}
    canonical: dict[str, str] = {}
    seen: set[str] = set()
    for token in text.split(","):
        key, value = _split_token(token)
        if key in seen:
            raise BadRequest(f"option {key!r} given twice (token {token!r})")
        seen.add(key)
        field, parser = _parser_for(key, token)
        try:
            shown, fields[field] = parser(value)
        except ValueError as error:
            raise BadRequest(f"bad value in option {token!r}: {error}") from None
        if shown is not None:
            canonical[key] = shown
    _check_requirements(seen, text)
    tokens = [f"{key}_{canonical[key]}" for key in sorted(canonical)]
    if len(",".join(tokens)) > MAX_CANONICAL_LENGTH:
        raise BadRequest(f"options longer than {MAX_CANONICAL_LENGTH} characters in canonical form")
    return Options(canonical=",".join(tokens) or NO_OPTIONS, **fields)  # type: ignore[arg-type]


def canonicalize(text: str) -> str:
    return parse_options(text).canonical


def _check_requirements(keys: set[str], text: str) -> None:
    for key in sorted(keys):
        needed = REQUIRES.get(key)
        if needed is not None and needed not in keys:
            raise BadRequest(f"option {key!r} needs option {needed!r} in {text[:80]!r}")


def _split_token(token: str) -> tuple[str, str]:
    key, sep, value = token.partition("_")
    if not sep or not key or not value:
        raise BadRequest(f"malformed option {token!r}: expected key_value")
    return key, value


def _parser_for(key: str, token: str) -> tuple[str, Callable[[str], Parsed]]:
    if key in PARSERS:
        return PARSERS[key]
    if key in NOT_YET_SUPPORTED:
        raise BadRequest(f"option {key!r} (token {token!r}) is not supported by this server yet")
    raise BadRequest(f"unknown option {key!r} in token {token!r}")

"""Polyglots: files that are a valid image *and* something else.

Pictor never sends an original's bytes to a browser: every variant is decoded and
re-encoded from pixels, so whatever rides along after the image data is dropped.
Trailing data as such is therefore accepted — cameras and phones append legitimate
trailers (Samsung's SEFT block, Google's Motion Photo MP4 after the JPEG's EOI).

Two kinds are refused anyway (415), because the stored original would be dangerous
the day anyone serves or downloads it as-is:

* files that are also a ZIP archive (JAR, "GIFAR", Office documents): the archive's
  central directory is at the end, so an image header in front does not stop a ZIP
  or Java reader from running it;
* files that carry HTML or script markup (``<script``, ``<html``, ``<iframe``, …,
  ``<?php``), which a browser or a PHP-enabled web server would execute.

SVG is exempt from the markup rule: it is markup, and is sanitised instead.
"""

from __future__ import annotations

import io
import re
import zipfile

from indexer.errors import UnsupportedMedia

_ACTIVE_MARKUP = re.compile(
    rb"<\s*(script|html|body|iframe|object|embed|applet|meta\s+http-equiv)[\s>/]|<\?php",
    re.IGNORECASE,
)


def reject_polyglot(data: bytes, *, markup_allowed: bool = False) -> None:
    if is_zip_archive(data):
        raise UnsupportedMedia(
            "file is also a ZIP/JAR archive (a polyglot such as a GIFAR); not accepted"
        )
    if not markup_allowed and (found := _ACTIVE_MARKUP.search(data)):
        tag = found.group(0)[:16].decode("ascii", "replace")
        raise UnsupportedMedia(
            f"file carries HTML/script markup ({tag!r}) next to the image (a polyglot); "
            "not accepted"
        )


def is_zip_archive(data: bytes) -> bool:
    """True when a ZIP reader would find at least one entry (not a chance signature)."""
    if b"PK\x05\x06" not in data[-(65536 + 22) :]:
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return bool(archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False

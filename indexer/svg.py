"""SVG input: recognise, sanitise, rasterise (with resvg) to a bounded-size picture.

An SVG is an XML program; treated naively it can read local files (external entities,
``<image href="file:///…">`` which resvg does load), reach the network, run scripts in
a browser, or expand exponentially.  So before resvg sees a byte:

* XML is parsed by defusedxml: external entities and external DTD subsets are refused
  (422); internal entities are allowed (old Illustrator exports use them) and expat's
  amplification limit stops "billion laughs".
* The tree is rewritten: ``script``, ``foreignObject`` and other active elements are
  dropped, ``on*`` handlers removed, every ``href`` that is not a same-document
  ``#fragment`` or an embedded raster ``data:image/png|jpeg|gif|webp`` is removed, and
  ``url(…)``/``@import`` pointing anywhere but ``#fragment`` are neutralised.
* Size is bounded: the element count including ``<use>`` expansion, and the raster,
  whose long edge is exactly ``ingest.svg_raster_edge`` (vectors have no native size).

resvg only sees the re-serialised, sanitised tree (no DOCTYPE survives), with no
resources directory.  The stored original keeps the uploaded bytes; they are never
delivered, every variant is rendered from the raster.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import xml.etree.ElementTree as ET  # only to serialise trees that defusedxml parsed

import resvg_py
from defusedxml import DefusedXmlException, EntitiesForbidden
from defusedxml.ElementTree import fromstring
from PIL import Image

from indexer.errors import Unprocessable

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
SNIFF_BYTES = 4096
MAX_ELEMENTS = 200_000  # after <use> expansion
MAX_USE_DEPTH = 32
EMBEDDED_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")  # what resvg decodes from data: URIs
ACTIVE_ELEMENTS = frozenset(
    {"script", "foreignobject", "iframe", "object", "embed", "audio", "video", "handler",
     "listener", "set", "animate", "animatemotion", "animatetransform"}
)
_SAFE_HREF = re.compile(r"^\s*(#|data:image/(png|jpeg|gif|webp)[;,])", re.IGNORECASE)
_EXTERNAL_URL = re.compile(r"url\(\s*(?!['\"]?\s*#)[^)]*\)", re.IGNORECASE)
_IMPORT = re.compile(r"@import[^;]*;?", re.IGNORECASE)
_SVG_START = re.compile(
    rb"^(<\?xml[^>]*>\s*)?(<!--.*?-->\s*|<!DOCTYPE[^\[>]*(\[.*?\])?\s*>\s*)*"
    rb"<([\w.-]+:)?svg[\s>/]",
    re.DOTALL,
)


def looks_like_svg(data: bytes) -> bool:
    """Cheap sniff before parsing: an XML document whose first element is ``<svg>``
    (after a declaration, comments and a DOCTYPE).  Other text is "not an image"."""
    head = data[:SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n")
    return _SVG_START.match(head) is not None


def rasterise(data: bytes, long_edge: int, max_pixels: int) -> Image.Image:
    """Sanitise and render; an RGBA picture whose long edge is ``long_edge``.
    ``max_pixels`` bounds rasters embedded as data: URIs (resvg decodes them whole)."""
    root = parse(data)
    sanitise(root, max_pixels)
    check_expansion(root)
    markup = ET.tostring(root, encoding="unicode")
    try:
        png = resvg_py.svg_to_bytes(svg_string=markup, width=long_edge, height=long_edge)
    except ValueError as error:
        raise Unprocessable("SVG cannot be rendered", detail=str(error)) from None
    picture = Image.open(io.BytesIO(bytes(png)))
    picture.load()
    return picture.convert("RGBA")


def parse(data: bytes) -> ET.Element:
    """Parse with every entity refused; if the only entities are internal ones, parse
    again allowing them (expat itself never fetches anything, and bounds expansion)."""
    try:
        try:
            root: ET.Element = fromstring(data, forbid_dtd=False, forbid_entities=True)
        except EntitiesForbidden as error:
            if error.sysid or error.pubid:
                raise Unprocessable(
                    f"SVG declares an external entity pointing to {error.sysid or error.pubid}; "
                    "external references are not allowed"
                ) from None
            root = fromstring(data, forbid_dtd=False, forbid_entities=False)
    except DefusedXmlException as error:
        raise Unprocessable(f"SVG refers to an external resource ({error}); not allowed") from None
    except (ET.ParseError, ValueError, RecursionError) as error:
        raise Unprocessable("SVG is not well-formed XML", detail=str(error)) from None
    if _local(root.tag) != "svg":
        raise Unprocessable("XML document is not an SVG (root element is not <svg>)")
    return root


def sanitise(root: ET.Element, max_pixels: int) -> None:
    """Remove everything active or external, in place."""
    for parent in list(root.iter()):
        for child in list(parent):
            if isinstance(child.tag, str) and _local(child.tag) in ACTIVE_ELEMENTS:
                parent.remove(child)
    for element in root.iter():
        _clean_attributes(element, max_pixels)
        if isinstance(element.tag, str) and _local(element.tag) == "style" and element.text:
            element.text = _neutralise_css(element.text)


def check_expansion(root: ET.Element) -> None:
    """Count elements as rendered, ``<use>`` references expanded (exponential fan-out
    through nested ``<use>`` is the SVG version of a decompression bomb)."""
    by_id = {element.get("id"): element for element in root.iter() if element.get("id")}
    memo: dict[int, int] = {}

    def size(element: ET.Element, depth: int) -> int:
        if depth > MAX_USE_DEPTH:
            raise Unprocessable(f"SVG nests <use> more than {MAX_USE_DEPTH} levels deep")
        if id(element) in memo:
            return memo[id(element)]
        memo[id(element)] = 0  # a reference cycle counts as nothing (resvg skips it)
        total = 1 + sum(size(child, depth) for child in element)
        target = by_id.get((_href(element) or "").lstrip("#"))
        if target is not None and _local(str(element.tag)) == "use":
            total += size(target, depth + 1)
        memo[id(element)] = min(total, MAX_ELEMENTS + 1)
        return memo[id(element)]

    try:
        total = size(root, 0)
    except RecursionError:
        raise Unprocessable("SVG is nested too deeply") from None
    if total > MAX_ELEMENTS:
        raise Unprocessable(f"SVG has more than {MAX_ELEMENTS} elements once <use> is expanded")


def _clean_attributes(element: ET.Element, max_pixels: int) -> None:
    for name, value in list(element.attrib.items()):
        local = _local(name).lower()
        is_link = local in ("href", "src")
        if _is_handler_or_base(name, local) or (is_link and not _SAFE_HREF.match(value)):
            del element.attrib[name]
        elif is_link and value.lstrip().lower().startswith("data:"):
            _check_embedded_raster(value, max_pixels)
        elif "url(" in value.lower() or "@import" in value.lower():
            element.attrib[name] = _neutralise_css(value)


def _is_handler_or_base(name: str, local: str) -> bool:
    return local.startswith("on") or name == "{http://www.w3.org/XML/1998/namespace}base"


def _check_embedded_raster(uri: str, max_pixels: int) -> None:
    """An embedded PNG/JPEG is decoded whole by resvg: apply the pixel limit to its header."""
    header, _, payload = uri.partition(",")
    try:
        raw = base64.b64decode(payload, validate=False) if header.endswith(";base64") else b""
        embedded = Image.open(io.BytesIO(raw), formats=EMBEDDED_FORMATS) if raw else None
        width, height = embedded.size if embedded else (0, 0)
    except (binascii.Error, OSError, ValueError, SyntaxError):
        return  # undecodable: resvg skips the image
    if width * height > max_pixels:
        raise Unprocessable(
            f"SVG embeds a {width}x{height} image, more than the limit of {max_pixels} pixels"
        )


def _neutralise_css(text: str) -> str:
    return _EXTERNAL_URL.sub("none", _IMPORT.sub("", text))


def _href(element: ET.Element) -> str | None:
    return element.get("href") or element.get("{http://www.w3.org/1999/xlink}href")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()

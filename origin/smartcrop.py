"""Where a ``fit_cover`` crop goes for ``g_smart`` and ``g_face``.

Geometry is planned before any pixel is decoded, with the crop centred; these
functions move the crop window once the picture is decoded.  They work on a small
copy (a few hundred pixels a side) of whatever the renderer decoded, so their cost
does not grow with the original, and answer in *frame* coordinates (the upright
source that the geometry refers to).

* smart: a saliency map (edge strength plus colour saturation, zero where
  transparent) summed over every window position with an integral image; the best
  window wins, and among near-ties the one nearest the centre, so flat pictures
  keep the centred crop.
* face: OpenCV's frontal-face Haar cascade, shipped inside the opencv-python-headless
  wheel (imported lazily: only ``g_face`` pays for it).  The window is centred on all
  faces, or on the largest when they do not fit together; no face falls back to smart.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFilter

SMART_EDGE = 256  # long edge of the saliency map
FACE_EDGE = 360  # long edge the face detector looks at
FACE_MIN = 0.06  # smallest face searched for, fraction of that edge (tiny faces don't steer)
FACE_SCALE_STEP = 1.2  # detector pyramid step: 1.2 finds the same faces as 1.1 at ~half cost
NEAR_TIE = 0.98  # windows scoring this close to the best count as ties
SATURATION_WEIGHT = 0.5
FACE_CASCADE = "haarcascade_frontalface_default.xml"

Point = tuple[float, float]
Face = tuple[float, float, float, float]  # left, top, width, height
FloatArray = npt.NDArray[np.float64]

_local = threading.local()


def crop_origin(image: Image.Image, frame: Point, region: Point, gravity: str) -> Point:
    """Top-left corner, in frame coordinates, of the ``region``-sized crop window."""
    if gravity == "face":
        faces = detect_faces(image)
        if faces:
            return _around_faces(faces, _scale(image, frame), frame, region)
    return smart_origin(image, frame, region)


# --- smart -----------------------------------------------------------------------------


def smart_origin(image: Image.Image, frame: Point, region: Point) -> Point:
    small = _reduced(image, SMART_EDGE)
    weights = saliency(small)
    scale = (small.width / frame[0], small.height / frame[1])
    window = (
        max(1, min(small.width, round(region[0] * scale[0]))),
        max(1, min(small.height, round(region[1] * scale[1]))),
    )
    left, top = best_window(weights, window)
    return _clamp((left / scale[0], top / scale[1]), frame, region)


def saliency(image: Image.Image) -> FloatArray:
    """Edge strength plus colour saturation per pixel, 0 where fully transparent."""
    rgb = image.convert("RGB")
    edges = np.asarray(rgb.convert("L").filter(ImageFilter.FIND_EDGES), dtype=np.float64)
    channels = np.asarray(rgb, dtype=np.float64)
    saturation = channels.max(axis=2) - channels.min(axis=2)
    weights: FloatArray = edges + SATURATION_WEIGHT * saturation
    if image.mode == "RGBA":
        weights *= np.asarray(image.getchannel("A"), dtype=np.float64) / 255
    return weights


def best_window(weights: FloatArray, window: tuple[int, int]) -> tuple[int, int]:
    """Top-left (x, y) of the ``window`` (w, h) with the largest sum of ``weights``."""
    height, width = weights.shape
    integral = np.zeros((height + 1, width + 1))
    integral[1:, 1:] = weights.cumsum(axis=0).cumsum(axis=1)
    w, h = window
    sums = integral[h:, w:] - integral[:-h, w:] - integral[h:, :-w] + integral[:-h, :-w]
    best = sums.max()
    ys, xs = np.nonzero(sums >= best * NEAR_TIE) if best > 0 else np.nonzero(sums >= best)
    centre = ((width - w) / 2, (height - h) / 2)
    nearest = np.argmin((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2)
    return int(xs[nearest]), int(ys[nearest])


# --- faces -----------------------------------------------------------------------------


def detect_faces(image: Image.Image) -> list[Face]:
    """Faces in ``image``'s own pixel coordinates, largest first."""
    small = _reduced(image, FACE_EDGE).convert("L")
    side = max(20, round(max(small.size) * FACE_MIN))
    found = _cascade().detectMultiScale(
        np.asarray(small), scaleFactor=FACE_SCALE_STEP, minNeighbors=5, minSize=(side, side)
    )
    factor = image.width / small.width
    faces: list[Face] = [
        (x * factor, y * factor, w * factor, h * factor) for x, y, w, h in np.asarray(found)
    ]
    return sorted(faces, key=lambda face: face[2] * face[3], reverse=True)


def _around_faces(faces: list[Face], scale: Point, frame: Point, region: Point) -> Point:
    boxes = [(x / scale[0], y / scale[1], w / scale[0], h / scale[1]) for x, y, w, h in faces]
    left = min(box[0] for box in boxes)
    top = min(box[1] for box in boxes)
    right = max(box[0] + box[2] for box in boxes)
    bottom = max(box[1] + box[3] for box in boxes)
    if right - left > region[0] or bottom - top > region[1]:
        left, top, width, height = boxes[0]
        right, bottom = left + width, top + height
    centre = ((left + right) / 2, (top + bottom) / 2)
    return _clamp((centre[0] - region[0] / 2, centre[1] - region[1] / 2), frame, region)


def _cascade() -> Any:
    """One classifier per render thread (OpenCV's cascades are not safe to share)."""
    cascade = getattr(_local, "cascade", None)
    if cascade is None:
        import cv2  # heavy import: only g_face pays for it

        cv2.setNumThreads(1)  # renders already run in parallel on the thread pool
        folder = cv2.data.haarcascades  # type: ignore[attr-defined]  # untyped submodule
        cascade = cv2.CascadeClassifier(os.path.join(folder, FACE_CASCADE))
        if cascade.empty():
            raise RuntimeError(f"OpenCV could not load {FACE_CASCADE}")
        _local.cascade = cascade
    return cascade


# --- helpers ---------------------------------------------------------------------------


def _reduced(image: Image.Image, long_edge: int) -> Image.Image:
    """A copy at most ``long_edge`` a side: an integer ``reduce`` (fast box averaging)
    first, then the exact size, so the big picture is read once and never copied."""
    if max(image.size) <= long_edge:
        return image
    factor = max(image.size) // long_edge
    small = image.reduce(factor) if factor >= 2 else image.copy()
    small.thumbnail((long_edge, long_edge), Image.Resampling.BOX)
    return small


def _scale(image: Image.Image, frame: Point) -> Point:
    return image.width / frame[0], image.height / frame[1]


def _clamp(origin: Point, frame: Point, region: Point) -> Point:
    return (
        min(max(origin[0], 0.0), frame[0] - region[0]),
        min(max(origin[1], 0.0), frame[1] - region[1]),
    )

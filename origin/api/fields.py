"""The editable fields of an image, validated the same way for uploads and for PATCH.

``ImageFields`` is the JSON body of ``PATCH /api/images/{id}``; a multipart upload sends
the same fields as form fields, where ``tags`` is a comma-separated string and
``focal`` is ``"x,y"``.  Any problem is a ``BadRequest``
naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from indexer.annotations import UNSET, Edit
from indexer.errors import BadRequest

# Re-exported: origin.api.images and the admin pages import it from here.
from indexer.search import normalize_tag as normalize_tag

MAX_TITLE = 500
MAX_ALT = 1000
MAX_DESCRIPTION = 10_000
MAX_TAGS = 50
MAX_TAG_LENGTH = 64
# Absent means "unchanged"; null is only meaningful for the focal point (clear it).
NOT_NULL = ("title", "alt", "description", "tags")
MAX_TAGS_TEXT = 4000  # the comma-separated form of at most MAX_TAGS tags
# "x,y" with x and y in 0..1, exactly as the OpenAPI document's FocalText pattern.
FOCAL_TEXT = re.compile(r"^\s*(0(?:\.\d+)?|1(?:\.0+)?)\s*,\s*(0(?:\.\d+)?|1(?:\.0+)?)\s*$")

Unit = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class Focal(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    x: Unit
    y: Unit


class ImageFields(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    title: str | None = Field(None, max_length=MAX_TITLE)
    alt: str | None = Field(None, max_length=MAX_ALT)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)
    tags: list[str] | None = Field(None, max_length=MAX_TAGS)
    focal: Focal | None = None

    @field_validator("tags")
    @classmethod
    def _clean_tags(cls, tags: list[str] | None) -> list[str] | None:
        if tags is None:
            return None
        for tag in tags:
            if not tag.strip() or len(tag) > MAX_TAG_LENGTH or "," in tag:
                raise ValueError(
                    f"each tag is 1..{MAX_TAG_LENGTH} characters without commas, "
                    f"got {tag[:80]!r}"
                )
        return list(dict.fromkeys(normalize_tag(tag) for tag in tags))

    def to_edit(self) -> Edit:
        focal: object = UNSET
        if "focal" in self.model_fields_set:
            focal = (self.focal.x, self.focal.y) if self.focal else None
        return Edit(
            title=self.title,
            alt=self.alt,
            description=self.description,
            tags=tuple(self.tags) if self.tags is not None else None,
            focal=focal,
        )


def parse_fields(data: object) -> ImageFields:
    """Validate a PATCH body (already decoded from JSON)."""
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    for name in NOT_NULL:
        if name in data and data[name] is None:
            raise BadRequest(f"invalid {name}: must not be null")
    try:
        return ImageFields.model_validate(data)
    except ValidationError as error:
        raise BadRequest(describe(error)) from None


def parse_form_fields(form: Mapping[str, str]) -> ImageFields:
    """Validate upload fields given as strings (multipart form fields)."""
    values: dict[str, Any] = dict(form)
    if "tags" in values:
        if len(values["tags"]) > MAX_TAGS_TEXT:
            raise BadRequest(f"invalid tags: longer than {MAX_TAGS_TEXT} characters")
        values["tags"] = [tag for tag in values["tags"].split(",") if tag.strip()]
    if "focal" in values:
        values["focal"] = _parse_focal(values["focal"])
    return parse_fields(values)


def _parse_focal(text: str) -> dict[str, float]:
    match = FOCAL_TEXT.match(text)
    if match is None:
        raise BadRequest(f"invalid focal {text[:40]!r}: expected 'x,y' with x and y in 0..1")
    return {"x": float(match[1]), "y": float(match[2])}


def describe(error: ValidationError) -> str:
    """A 400 message naming the first bad field."""
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "body"
    if first["type"] == "extra_forbidden":
        return f"unknown field {location!r}"
    return f"invalid {location}: {first['msg']}"

"""Configuration: defaults, then ``pictor.toml`` (or ``--config`` / ``PICTOR_CONFIG``),
then ``PICTOR_<SECTION>_<KEY>`` environment variables.

Every key is documented in README.md (a test checks that).  Invalid configuration
raises :class:`ConfigError` naming the offending key, so startup fails loudly.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_ENV = "PICTOR_CONFIG"
DEFAULT_CONFIG_NAME = "pictor.toml"
PRESET_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")

CommaList = Annotated[list[str], NoDecode]


class ConfigError(Exception):
    """Configuration that cannot be used; the message names the key."""


def _split_commas(value: Any) -> Any:
    """Environment variables carry lists as ``a,b,c``; TOML carries real lists."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    data_dir: Path = Path("data")
    workers: int = Field(2, ge=1, le=64)
    fallback_image: Path | None = None


class SecuritySettings(Section):
    signing_keys: CommaList = []
    allow_unsigned: bool = False
    presets_only: bool = False
    referers: CommaList = []
    cors_origins: CommaList = []

    _split = field_validator("signing_keys", "referers", "cors_origins", mode="before")(
        _split_commas
    )

    @field_validator("signing_keys")
    @classmethod
    def _keys_not_blank(cls, keys: list[str]) -> list[str]:
        if any(not key for key in keys):
            raise ValueError("signing keys must not be empty strings")
        return keys

    @property
    def unsigned_allowed(self) -> bool:
        """Unsigned mode: no key configured, or explicitly allowed next to keys."""
        return not self.signing_keys or self.allow_unsigned


class LimitSettings(Section):
    max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1)
    max_source_pixels: int = Field(100_000_000, ge=1)
    max_output_pixels: int = Field(40_000_000, ge=1)
    render_threads: int = Field(0, ge=0, le=64)  # 0 = one per CPU core
    render_queue: int = Field(64, ge=0, le=10_000)
    rate_per_second: int = Field(20, ge=1)  # misses and API calls per client, in Nginx
    rate_burst: int = Field(40, ge=0)
    max_frames: int = Field(100, ge=1, le=10_000)  # animation frames rendered; the rest dropped
    upload_slots: int = Field(0, ge=0, le=64)  # uploads received + stored at once; 0 = per core
    upload_queue: int = Field(64, ge=0, le=10_000)  # uploads waiting for a slot before 503


class OutputSettings(Section):
    avif: bool = True
    quality_default: int = Field(80, ge=1, le=100)
    quality_low: int = Field(45, ge=1, le=100)
    quality_medium: int = Field(65, ge=1, le=100)
    quality_high: int = Field(85, ge=1, le=100)
    avif_speed: int = Field(9, ge=0, le=10)
    avif_codec: Literal["svt", "aom"] = "svt"
    webp_method: int = Field(4, ge=0, le=6)
    pyramid: CommaList = ["2560", "1280", "640"]
    text_font: Path | None = None  # TrueType/OpenType file for ``txt``; None = bundled DejaVu
    placeholder_budget_ms: int = Field(0, ge=0, le=60_000)  # 0 = always render before answering

    _split = field_validator("pyramid", mode="before")(_split_commas)

    @field_validator("pyramid")
    @classmethod
    def _sizes_are_numbers(cls, sizes: list[str]) -> list[str]:
        for size in sizes:
            if not size.isdigit() or not 16 <= int(size) <= 16384:
                raise ValueError(f"pyramid sizes are long-edge pixels 16..16384, got {size!r}")
        return sorted(sizes, key=int, reverse=True)

    @property
    def pyramid_sizes(self) -> list[int]:
        return [int(size) for size in self.pyramid]

    @field_validator("text_font")
    @classmethod
    def _font_exists(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"font file {path} does not exist")
        return path


Compass = Literal["center", "n", "s", "e", "w", "ne", "nw", "se", "sw"]


class WatermarkSettings(Section):
    """One ``[watermarks.NAME]`` table: an image file and how it is placed by default."""

    path: Path
    position: Compass = "se"
    opacity: float = Field(0.5, ge=0, le=1)
    size: float = Field(0.2, gt=0, le=1)  # largest fraction of the output's width and height
    margin: float = Field(0.02, ge=0, le=0.25)  # fraction of the output's shorter side

    @field_validator("path")
    @classmethod
    def _file_exists(cls, path: Path) -> Path:
        if not path.is_file():
            raise ValueError(f"watermark file {path} does not exist")
        return path


class CacheSettings(Section):
    max_bytes: int = Field(10 * 1024**3, ge=0)  # 0 = never keep variants on disk
    low_watermark: float = Field(0.8, gt=0, le=1)
    min_free_bytes: int = Field(512 * 1024**2, ge=0)
    janitor_seconds: float = Field(60, gt=0)  # how often pictor serve's janitor runs


class IngestSettings(Section):
    keep_gps: bool = False
    reject_near_duplicates: bool = False
    near_duplicate_threshold: int = Field(12, ge=0, le=64)  # pHash bits (README "Duplicates")
    near_duplicate_dhash_threshold: int = Field(16, ge=0, le=64)  # dHash bits, confirms pHash
    near_duplicate_orientations: bool = False  # also match rotated/mirrored uploads
    blurhash: bool = True  # compute a BlurHash placeholder at ingest
    svg_raster_edge: int = Field(2048, ge=16, le=16384)  # long edge of an SVG's raster master
    settle_seconds: float = Field(1.0, ge=0, le=3600)  # a watched file must be unchanged this long


class AISettings(Section):
    enabled: bool = True
    model: str = "ViT-B-32"
    pretrained: str = "laion2b_s34b_b79k"
    batch_size: int = Field(16, ge=1, le=256)
    tag_top_k: int = Field(8, ge=1, le=100)
    tag_threshold: float = Field(0.22, ge=-1, le=1)
    min_similarity: float = Field(0.18, ge=-1, le=1)
    model_configs: Path | None = None  # folder of extra open_clip model configs (*.json)
    vocabulary: Path | None = None  # tag vocabulary TOML; None = the shipped one
    alt_text: bool = True  # draft alt-text and title from the tags
    max_attempts: int = Field(5, ge=1, le=100)  # per job, then it is 'failed'
    retry_seconds: float = Field(30.0, ge=0)  # first backoff; doubles per attempt
    poll_seconds: float = Field(1.0, gt=0, le=3600)  # idle worker's look at the queue


class LogSettings(Section):
    json_lines: bool = Field(False, alias="json")
    level: Literal["debug", "info", "warning", "error"] = "info"

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Settings(BaseSettings):
    """All of Pictor's configuration, one frozen object."""

    model_config = SettingsConfigDict(
        env_prefix="PICTOR_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
        frozen=True,
        case_sensitive=False,
    )

    server: ServerSettings = ServerSettings()
    security: SecuritySettings = SecuritySettings()
    limits: LimitSettings = LimitSettings()
    output: OutputSettings = OutputSettings()
    cache: CacheSettings = CacheSettings()
    ingest: IngestSettings = IngestSettings()
    ai: AISettings = AISettings()
    log: LogSettings = LogSettings()
    presets: dict[str, str] = {"thumb": "fit_cover,h_200,w_200"}
    watermarks: dict[str, WatermarkSettings] = {}

    @field_validator("watermarks")
    @classmethod
    def _watermark_names(
        cls, watermarks: dict[str, WatermarkSettings]
    ) -> dict[str, WatermarkSettings]:
        for name in watermarks:
            if not PRESET_NAME.match(name):
                raise ValueError(f"watermark name {name!r} must match {PRESET_NAME.pattern}")
        return watermarks

    @field_validator("presets")
    @classmethod
    def _preset_names(cls, presets: dict[str, str]) -> dict[str, str]:
        for name in presets:
            if not PRESET_NAME.match(name):
                raise ValueError(f"preset name {name!r} must match {PRESET_NAME.pattern}")
        return presets

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _TOML_FILE.get("path")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir.resolve()


# The TOML path is chosen at run time; pydantic-settings reads sources through the
# class, so the choice is handed over here for the duration of one load.
_TOML_FILE: dict[str, Path | None] = {}


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The TOML file to read: ``--config``, else ``$PICTOR_CONFIG``, else ``./pictor.toml``."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        return path
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        path = Path(from_env)
        if not path.is_file():
            raise ConfigError(f"{CONFIG_ENV}={from_env}: file does not exist")
        return path
    default = Path(DEFAULT_CONFIG_NAME)
    return default if default.is_file() else None


def load_settings(explicit: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Load and validate the configuration; ``overrides`` are section dicts (CLI flags)."""
    _TOML_FILE["path"] = config_path(explicit)
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
    except ValueError as error:  # malformed TOML, undecodable environment values
        raise ConfigError(f"invalid configuration: {error}") from None
    finally:
        _TOML_FILE.clear()


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"])
        env = "PICTOR_" + "_".join(str(part) for part in problem["loc"][:2]).upper()
        lines.append(f"invalid configuration key {key} (env {env}): {problem['msg']}")
    return "\n".join(lines)

"""Configuration: file, environment overrides, validation messages that name the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.config import ConfigError, load_settings
from tests.conftest import clean_environment, write_toml


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer ``pictor.toml`` or ``PICTOR_*`` variable leaks into these tests."""
    for name in [n for n in os.environ if n.startswith("PICTOR_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_safe() -> None:
    settings = load_settings()
    assert settings.server.port == 8080
    assert settings.security.signing_keys == []
    assert settings.security.unsigned_allowed  # unsigned mode, with a loud warning at startup
    assert settings.limits.max_upload_bytes == 52428800
    assert settings.limits.max_source_pixels == 100_000_000
    assert settings.presets["thumb"] == "fit_cover,h_200,w_200"


def test_file_then_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write_toml(
        tmp_path / "pictor.toml",
        {"server": {"port": 9001, "data_dir": "elsewhere"}, "security": {"signing_keys": ["a"]}},
    )
    assert load_settings().server.port == 9001
    monkeypatch.setenv("PICTOR_SERVER_PORT", "9002")
    monkeypatch.setenv("PICTOR_SECURITY_SIGNING_KEYS", "k1,k2")
    monkeypatch.setenv("PICTOR_SECURITY_ALLOW_UNSIGNED", "true")
    monkeypatch.setenv("PICTOR_LIMITS_MAX_UPLOAD_BYTES", "1000")
    settings = load_settings()
    assert settings.server.port == 9002
    assert settings.server.data_dir == Path("elsewhere")
    assert settings.security.signing_keys == ["k1", "k2"]
    assert settings.security.allow_unsigned
    assert settings.limits.max_upload_bytes == 1000


def test_explicit_file_and_pictor_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    other = write_toml(tmp_path / "other.toml", {"server": {"port": 7000}})
    assert load_settings(other).server.port == 7000
    monkeypatch.setenv("PICTOR_CONFIG", str(other))
    assert load_settings().server.port == 7000
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_presets_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICTOR_PRESETS_HERO", "w_1200")
    assert load_settings().presets["hero"] == "w_1200"


@pytest.mark.parametrize(
    ("sections", "env", "named"),
    [
        ({"server": {"port": "eighty"}}, {}, "server.port"),
        ({"server": {"port": 70000}}, {}, "server.port"),
        ({"server": {"colour": "red"}}, {}, "server.colour"),
        ({"nosuchsection": {"a": 1}}, {}, "nosuchsection"),
        ({"limits": {"max_upload_bytes": -1}}, {}, "limits.max_upload_bytes"),
        ({"output": {"pyramid": ["big"]}}, {}, "output.pyramid"),
        ({}, {"PICTOR_SERVER_WORKERS": "many"}, "PICTOR_SERVER_WORKERS"),
        ({}, {"PICTOR_SECURITY_PRESETS_ONLY": "perhaps"}, "security.presets_only"),
        ({"presets": {"Bad Name": "w_10"}}, {}, "presets"),
    ],
)
def test_invalid_configuration_names_the_key(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sections: dict[str, dict[str, object]],
    env: dict[str, str],
    named: str,
) -> None:
    write_toml(tmp_path / "pictor.toml", sections)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert named in str(caught.value)


def test_malformed_toml_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "pictor.toml").write_text("[server\nport = 1\n")
    with pytest.raises(ConfigError, match="invalid configuration"):
        load_settings()


def test_bad_preset_stops_the_server_with_the_key_named(tmp_path: Path) -> None:
    conf = write_toml(tmp_path / "bad.toml", {"presets": {"hero": "w_99999"}})
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "origin.cli",
            "serve",
            "--no-nginx",
            "--config",
            str(conf),
            "--data",
            str(tmp_path / "data"),
            "--port",
            "1",
        ],
        capture_output=True,
        text=True,
        env=clean_environment(),
        timeout=60,
    )
    assert result.returncode == 2
    assert "presets.hero" in result.stderr

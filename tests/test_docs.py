"""The README documents every configuration key, command and option (Datasette-style)."""

from __future__ import annotations

import argparse

import pytest
from pydantic import BaseModel

from indexer.config import Settings
from origin.cli import build_parser
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def config_keys() -> list[str]:
    keys = []
    for section, field in Settings.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            for name, sub in model.model_fields.items():
                keys.append(f"{section}.{sub.alias or name}")
        else:
            keys.append(f"{section}.<name>")
    return keys


def commands() -> list[tuple[str, list[str]]]:
    found = []

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    options = [
                        flag
                        for sub_action in child._actions
                        for flag in sub_action.option_strings
                        if flag.startswith("--") and flag not in ("--help", "--config", "--data")
                    ]
                    found.append((f"{prefix} {name}".strip(), options))
                    walk(child, f"{prefix} {name}")

    walk(build_parser(), "")
    return found


@pytest.mark.parametrize("key", config_keys())
def test_every_config_key_is_documented(key: str) -> None:
    section, name = key.split(".", 1)
    assert f"`{key}`" in README or (
        name.startswith("quality_") and f"`{section}.quality_" in README
    ), f"README does not document configuration key {key}"


@pytest.mark.parametrize(("command", "options"), commands(), ids=lambda v: str(v))
def test_every_command_and_option_is_documented(command: str, options: list[str]) -> None:
    assert f"pictor {command}" in README, f"README does not document `pictor {command}`"
    for option in options:
        assert option in README, f"README does not document {option} of `pictor {command}`"

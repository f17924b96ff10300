"""The two README commands' building blocks: the package imports and the CLI answers."""

from __future__ import annotations

import subprocess
import sys


def test_cli_help_lists_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "origin.cli", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("serve", "ingest", "sign"):
        assert command in result.stdout

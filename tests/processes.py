"""Finding and watching real processes through /proc (Linux), for the supervisor tests."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # "pid (comm) state ppid pgrp ...": comm may contain spaces and parentheses.
    return text[text.rindex(")") + 2 :].split()


def alive(pid: int) -> bool:
    """Running or stopped, not gone and not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def state(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return None if fields is None else fields[0]


def parent(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[1])


def cmdline(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def children(pid: int) -> list[int]:
    return [
        int(entry.name)
        for entry in PROC.iterdir()
        if entry.name.isdigit() and parent(int(entry.name)) == pid
    ]


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    frontier = [pid]
    while frontier:
        kids = [kid for current in frontier for kid in children(current) if alive(kid)]
        found.extend(kids)
        frontier = kids
    return found


def child_running(pid: int, needle: str) -> int:
    """The direct child of ``pid`` whose command line contains ``needle``."""
    matches = [kid for kid in children(pid) if needle in cmdline(kid) and alive(kid)]
    assert len(matches) == 1, f"expected one child running {needle!r}, found {matches}"
    return matches[0]


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Poll until ``predicate`` holds; fail naming ``what`` (a bound, not a measurement)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def signal_group(pgid: int, signum: int) -> None:
    os.killpg(pgid, signum)

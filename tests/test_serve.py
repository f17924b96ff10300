"""``pictor serve``'s supervisor: clean stops, dead children, and nothing left behind.

The first tests drive :class:`origin.serve.Supervisor` with small shell children; the
rest run the real ``pictor serve`` (Hypercorn, and Nginx where named) and kill parts of
it from outside, as an operator or the kernel's OOM killer would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from origin import nginx
from origin.serve import Supervisor, use_nginx
from tests.conftest import ServerFactory, clean_environment, write_toml
from tests.processes import alive, child_running, cmdline, descendants, wait_for

ENV = dict(os.environ)


def port_closed(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


# --- the supervisor with stand-in children -------------------------------------------


def test_a_dead_child_is_named_and_the_others_are_stopped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    supervisor = Supervisor()
    keeper = supervisor.start("keeper", ["sleep", "600"], ENV)
    victim = supervisor.start("victim", ["sh", "-c", "exit 3"], ENV)
    assert supervisor.wait() == 1
    assert f"victim (pid {victim.process.pid}) exited with status 3; stopping" in (
        capsys.readouterr().err
    )
    assert keeper.process.returncode == -signal.SIGTERM


def test_a_killed_child_is_reported_with_its_signal(capsys: pytest.CaptureFixture[str]) -> None:
    supervisor = Supervisor()
    victim = supervisor.start("victim", ["sleep", "600"], ENV)
    victim.process.kill()
    assert supervisor.wait() == 1
    assert f"victim (pid {victim.process.pid}) was killed by SIGKILL" in capsys.readouterr().err


def test_helpers_orphaned_by_a_dead_leader_are_stopped(tmp_path: Path) -> None:
    """Like Hypercorn workers whose master was SIGKILLed: still running, same group."""
    pidfile = tmp_path / "helper.pid"
    supervisor = Supervisor()
    leader = supervisor.start(
        "leader", ["sh", "-c", f"sleep 600 & echo $! > {pidfile}; wait"], ENV
    )
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() != "", "the helper pid")
    helper = int(pidfile.read_text())
    leader.process.kill()
    assert supervisor.wait() == 1
    wait_for(lambda: not alive(helper), "the orphaned helper to be stopped")


def test_a_stop_request_uses_each_childs_stop_signal_and_exits_zero() -> None:
    supervisor = Supervisor()
    graceful = supervisor.start("graceful", ["sleep", "600"], ENV, signal.SIGQUIT)
    plain = supervisor.start("plain", ["sleep", "600"], ENV)
    supervisor.request_stop(signal.SIGTERM, None)
    assert supervisor.wait() == 0
    assert graceful.process.returncode == -signal.SIGQUIT
    assert plain.process.returncode == -signal.SIGTERM


def test_without_nginx_installed_the_origin_serves_alone(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(nginx, "available", lambda: False)
    assert use_nginx(no_nginx=False) is False
    assert capsys.readouterr().err.count("nginx is not installed") == 1
    assert use_nginx(no_nginx=True) is False
    assert capsys.readouterr().err == ""  # asked for explicitly: no warning


# --- the real `pictor serve` ----------------------------------------------------------


@pytest.mark.nginx
@pytest.mark.parametrize(
    ("with_nginx", "signum"),
    [(True, signal.SIGINT), (True, signal.SIGTERM), (False, signal.SIGTERM)],
    ids=["nginx-SIGINT", "nginx-SIGTERM", "origin-only-SIGTERM"],
)
def test_signals_stop_everything_cleanly(
    serve: ServerFactory, with_nginx: bool, signum: int
) -> None:
    server = serve(nginx=with_nginx)
    family = descendants(server.process.pid)
    programs = " ".join(map(cmdline, family))
    assert "hypercorn" in programs
    assert ("nginx" in programs) is with_nginx
    server.process.send_signal(signum)
    assert server.process.wait(60) == 0
    # Group members the supervisor SIGKILLed last may take a moment to vanish from /proc.
    wait_for(lambda: not [pid for pid in family if alive(pid)], "every child gone", timeout=10)
    assert port_closed(server.port)
    front = "nginx in front of the origin" if with_nginx else "origin only"
    assert f"pictor: serving on http://127.0.0.1:{server.port} ({front})" in server.logs()


@pytest.mark.nginx
def test_a_dead_nginx_stops_the_whole_server(serve: ServerFactory) -> None:
    server = serve(nginx=True)
    family = descendants(server.process.pid)
    master = child_running(server.process.pid, "nginx: master")
    os.kill(master, signal.SIGKILL)
    assert server.process.wait(60) == 1
    assert f"pictor: nginx (pid {master}) was killed by SIGKILL; stopping everything" in (
        server.logs()
    )
    # Nginx's own workers are orphans now; they go too, with the origin.
    wait_for(lambda: not [pid for pid in family if alive(pid)], "every child to be gone")
    assert port_closed(server.port)


@pytest.mark.nginx
def test_a_dead_origin_stops_the_whole_server(serve: ServerFactory) -> None:
    server = serve(nginx=True)
    family = descendants(server.process.pid)
    master = child_running(server.process.pid, "hypercorn")
    workers = descendants(master)
    assert workers, "Hypercorn runs worker processes"
    os.kill(master, signal.SIGKILL)
    assert server.process.wait(60) == 1
    assert f"pictor: origin (pid {master}) was killed by SIGKILL; stopping everything" in (
        server.logs()
    )
    # The workers outlived their master; they must not keep serving the socket.
    wait_for(lambda: not [pid for pid in family if alive(pid)], "every child to be gone")
    assert port_closed(server.port)


@pytest.mark.nginx
def test_children_follow_a_killed_supervisor(serve: ServerFactory) -> None:
    """SIGKILL cannot be caught: the kernel's parent-death signal stops the children."""
    server = serve(nginx=True)
    family = descendants(server.process.pid)
    server.process.kill()
    server.process.wait(60)
    # SIGTERM means a graceful stop (up to Hypercorn's 15 s grace); slow on a busy machine.
    wait_for(lambda: not [pid for pid in family if alive(pid)], "every child to be gone", 120)
    wait_for(lambda: port_closed(server.port), "the port to close")


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("security", "referers", ["evil.com; return 200"], "security.referers"),
        ("security", "cors_origins", ['https://a.example"'], "security.cors_origins"),
        ("server", "fallback_image", "missing.png", "server.fallback_image"),
    ],
)
def test_unusable_settings_stop_startup_naming_the_key(
    tmp_path: Path, section: str, key: str, value: object, message: str
) -> None:
    conf = write_toml(tmp_path / "pictor.toml", {section: {key: value}})
    result = subprocess.run(
        [sys.executable, "-m", "origin.cli", "serve", "--config", str(conf),
         "--data", str(tmp_path / "data"), "--port", "1"],
        capture_output=True, text=True, timeout=120, env=clean_environment(), cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert f"invalid configuration key {message}" in result.stderr
    assert "serving on" not in result.stdout


def test_no_worker_leaves_the_ai_worker_to_another_process(serve: ServerFactory) -> None:
    """docker compose runs `pictor worker` as its own service; the origin must not start
    one (test servers run with ai.enabled = false, so the worker step only says so)."""
    with_worker = serve(nginx=False)
    without = serve(nginx=False, extra_args=["--no-worker"])
    assert "AI tagging and semantic search are off" in with_worker.logs()
    assert "AI tagging" not in without.logs()
    assert not [kid for kid in descendants(without.process.pid) if "cli worker" in cmdline(kid)]

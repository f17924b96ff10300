"""``docker-compose.yml`` and the ``Dockerfile``, checked for structure (Docker itself
cannot run on these machines): the services, the shared data volume, the ports, and that
the configuration Nginx runs is the one ``nginx/`` renders for the origin's settings."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from indexer.layout import DataLayout
from origin import nginx
from tests.conftest import REPO, clean_environment, make_settings, require

COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DATA = "/data"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def shell_steps(service: dict[str, Any]) -> list[list[str]]:
    """The commands a ``sh -c "a && exec b"`` service runs, each as an argv."""
    command = service["command"]
    assert command[:2] == ["sh", "-c"]
    steps = [shlex.split(part) for part in command[2].split("&&")]
    return [step[1:] if step[0] == "exec" else step for step in steps]


def step(service: dict[str, Any], program: list[str]) -> list[str]:
    matches = [argv for argv in shell_steps(service) if argv[: len(program)] == program]
    assert len(matches) == 1, f"expected one {' '.join(program)} step"
    return matches[0]


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_three_services_share_one_named_data_volume(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    assert set(services) == {"nginx", "origin", "indexer"}
    assert compose["volumes"] == {"data": None}
    for name, service in services.items():
        assert service["volumes"] == [f"data:{DATA}"], name


def test_nginx_is_the_official_image_and_the_only_published_port(
    services: dict[str, dict[str, Any]],
) -> None:
    front = services["nginx"]
    image, _, tag = front["image"].partition(":")
    assert image == "nginx"  # Docker Hub's official image: no namespace
    assert tag and tag != "latest"
    assert front["ports"] == ["8080:8080"]
    assert all("ports" not in services[name] for name in ("origin", "indexer"))
    assert front["depends_on"] == {"origin": {"condition": "service_healthy"}}


def test_python_services_are_built_from_the_dockerfile(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ("origin", "indexer"):
        assert services[name]["build"] == "."
        assert services[name]["image"] == services["origin"]["image"]
        environment = services[name]["environment"]
        assert environment["PICTOR_SERVER_DATA_DIR"] == DATA
    assert services["indexer"]["command"] == ["pictor", "worker"]
    assert services["indexer"]["depends_on"] == {"origin": {"condition": "service_healthy"}}
    text = DOCKERFILE.read_text()
    assert text.startswith("#") and "\nFROM python:3.11-slim\n" in text
    for part in ("origin", "indexer", "sql", "nginx"):
        assert f"\nCOPY {part} {part}\n" in text, part
    assert "\nUSER pictor\n" in text
    assert 'pip install -e "' in text


def test_origin_listens_where_the_rendered_upstream_points(
    services: dict[str, dict[str, Any]],
) -> None:
    origin = services["origin"]
    render = step(origin, ["pictor", "nginx-config"])
    serve = step(origin, ["pictor", "serve"])
    assert "--no-nginx" in serve
    assert "--no-worker" in serve  # CLIP runs only in the indexer service
    host, _, port = option(render, "--upstream").partition(":")
    assert host == "origin"  # the compose service name resolves on the compose network
    assert option(serve, "--port") == port
    assert origin["expose"] == [port]
    assert f"127.0.0.1:{port}/healthz" in " ".join(origin["healthcheck"]["test"])
    assert origin["environment"]["PICTOR_SERVER_HOST"] == "0.0.0.0"
    published = services["nginx"]["ports"][0].split(":")[1]
    assert option(render, "--port") == published


def test_nginx_runs_the_configuration_that_nginx_dir_renders(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """Run the origin's render step as written in the compose file (with the data
    directory moved into tmp) and compare with rendering the template directly."""
    render = step(services["origin"], ["pictor", "nginx-config"])
    output = option(render, "--output")
    front = services["nginx"]["command"]
    assert front[0] == "nginx"
    assert option(front, "-c") == output
    assert option(front, "-p") == f"{DATA}/run"
    assert option(front, "-g") == "daemon off;"
    assert output == f"{DATA}/run/nginx.conf"

    data = tmp_path / "data"
    local_output = str(data) + output.removeprefix(DATA)
    argv = [local_output if arg == output else arg for arg in render[1:]]
    environment = {**clean_environment(), **services["origin"]["environment"],
                   "PICTOR_SERVER_DATA_DIR": str(data)}
    result = subprocess.run([sys.executable, "-m", "origin.cli", *argv], env=environment,
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    rendered = Path(local_output).read_text()

    port = int(option(render, "--port"))
    settings = make_settings(data, server={"host": "0.0.0.0", "port": port})
    expected = nginx.render_config(settings, DataLayout.at(data), option(render, "--upstream"))
    assert rendered == expected
    assert "server origin:8000;" in rendered
    assert "listen 0.0.0.0:8080 reuseport;" in rendered
    assert f"root {data}/cache;" in rendered


def test_rendered_by_an_unprivileged_user_the_configuration_names_no_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The image runs as `pictor`: without a `user` line the official image's master
    (root) runs its workers as its own `nginx` user, which can read the 0644 variants."""
    monkeypatch.setattr(nginx.os, "geteuid", lambda: 1000)
    settings = make_settings(tmp_path / "data")
    text = nginx.render_config(settings, DataLayout.at(settings.data_dir), "origin:8000")
    assert not [line for line in text.splitlines() if line.startswith("user ")]


def test_the_rendered_compose_configuration_passes_nginx_t(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    require(nginx.available(), "nginx")
    render = step(services["origin"], ["pictor", "nginx-config"])
    data = tmp_path / "data"
    settings = make_settings(data, server={"host": "127.0.0.1", "port": 8080})
    layout = DataLayout.at(data)
    text = nginx.render_config(settings, layout, option(render, "--upstream"))
    conf = tmp_path / "nginx.conf"
    # No Docker network here: let the upstream name resolve to loopback instead.
    conf.write_text(text.replace("server origin:", "server 127.0.0.1:"))
    nginx.prepare(layout)
    result = subprocess.run(nginx.test_command(layout, conf), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

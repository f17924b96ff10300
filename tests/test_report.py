"""``pictor report`` on a crafted access log in Nginx's ``pictor_json`` format."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from origin.report import (
    build_report,
    format_table,
    parse_duration,
    parse_line,
    parse_upstream_time,
    recent_cache_ratio,
    seek_to,
    since_now,
)
from tests.conftest import REPO, ServerFactory, ingest_paths, make_settings, photo
from tests.processes import wait_for

START = datetime(2026, 1, 15, 10, 0, 0, tzinfo=UTC)  # in the past: --since 1h is empty
IMG = "/img/_/w_{w}/0123456789abcdef0123.jpg"


def entry(
    seconds: float,
    client: str = "10.0.0.1",
    uri: str = "/img/_/w_100/0123456789abcdef0123.jpg",
    status: int = 200,
    cache: str = "HIT",
    upstream: str = "",
    referer: str = "",
    request_id: str = "r",
) -> str:
    """One line exactly as ``log_format pictor_json`` writes it."""
    return json.dumps({
        "time": (START + timedelta(seconds=seconds)).isoformat(),
        "client": client, "method": "GET", "uri": uri, "status": status, "bytes": 1234,
        "request_time": 0.001, "upstream_time": upstream, "referer": referer,
        "user_agent": "test", "cache": cache, "request_id": request_id,
    })


def crafted_log() -> list[str]:
    lines = []
    # 60 hits from a well-behaved client, referred by two sites.
    for i in range(60):
        referer = "https://blog.example/post" if i % 3 else "https://shop.example/"
        lines.append(entry(i, referer=referer))
    # A cache-busting storm: 30 distinct widths from one client, each rendered.
    for i in range(30):
        lines.append(entry(100 + i, client="10.6.6.6", uri=IMG.format(w=200 + i),
                           cache="MISS", upstream=f"0.{100 + i}"))
    # The same URL missed 10 times by another client: many misses, one distinct.
    for i in range(10):
        lines.append(entry(140 + i, client="10.0.0.2", uri=IMG.format(w=999), cache="MISS",
                           upstream="0.050"))
    # Refusals: forged signatures (403) and probing (404) and a rate-limited client (429).
    for i in range(7):
        lines.append(entry(200 + i, client="10.4.0.3", status=403, upstream="0.002", cache=""))
    for i in range(4):
        lines.append(entry(210 + i, client="10.4.0.4", status=404, upstream="0.002", cache=""))
    lines.append(entry(215, client="10.4.0.3", status=404, upstream="0.002", cache=""))
    for i in range(5):
        lines.append(entry(220 + i, client="10.9.9.9", status=429, cache=""))
    # One very slow render (retried upstream: two times), and one 5xx.
    lines.append(entry(230, client="10.0.0.7", uri=IMG.format(w=4000), cache="MISS",
                       upstream="0.500, 2.250", request_id="slowest-one"))
    lines.append(entry(231, client="10.0.0.7", status=503, upstream="0.001", cache=""))
    # Nginx adds X-Cache: HIT to its own refusals in the hit locations: not a hit.
    lines.append(entry(232, client="10.4.0.5", status=403, cache="HIT"))
    lines.append("this is not json")
    lines.append('{"time": "yesterday", "status": 200}')
    return lines


@pytest.fixture
def access_log(tmp_path: Path) -> Path:
    path = tmp_path / "logs" / "access.log"
    path.parent.mkdir()
    path.write_text("\n".join(crafted_log()) + "\n")
    return path


def test_report_counts_errors_clients_referers_storms_and_slow_renders(access_log: Path) -> None:
    report = build_report([access_log], storm_threshold=20, top=3)
    assert report["requests"] == 60 + 30 + 10 + 7 + 4 + 1 + 5 + 3
    assert report["unreadable_lines"] == 2
    assert report["status_classes"] == {"2xx": 101, "4xx": 18, "5xx": 1}
    assert report["error_rate_4xx"] == round(18 / 120, 4)
    assert report["error_rate_5xx"] == round(1 / 120, 4)
    assert (report["cache_hits"], report["cache_misses"]) == (60, 41)
    assert report["hit_ratio"] == round(60 / 101, 4)
    assert [tuple(pair) for pair in report["top_clients"]["403"]] == [
        ("10.4.0.3", 7), ("10.4.0.5", 1)]
    assert [tuple(pair) for pair in report["top_clients"]["404"]] == [
        ("10.4.0.4", 4), ("10.4.0.3", 1)]
    assert [tuple(pair) for pair in report["top_clients"]["429"]] == [("10.9.9.9", 5)]
    assert [tuple(pair) for pair in report["top_referers"]] == [
        ("https://blog.example/post", 40), ("https://shop.example/", 20)]
    # Only the client with many *distinct* misses is flagged, not the one repeating a URL.
    assert report["cache_busting"] == [{"client": "10.6.6.6", "distinct_misses": 30}]
    slowest = report["slowest_renders"]
    assert len(slowest) == 3
    assert slowest[0]["request_id"] == "slowest-one"
    assert slowest[0]["seconds"] == pytest.approx(2.75)
    assert [s["seconds"] for s in slowest[1:]] == pytest.approx([0.129, 0.128])


def test_since_reads_only_the_window(access_log: Path) -> None:
    report = build_report([access_log], since=START + timedelta(seconds=200))
    assert report["requests"] == 7 + 4 + 1 + 5 + 3
    assert report["from"] == (START + timedelta(seconds=200)).isoformat()
    assert build_report([access_log], since=START + timedelta(days=1))["requests"] == 0


def test_seek_to_lands_before_the_first_line_of_the_window(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_text("".join(entry(i) + "\n" for i in range(5000)))
    for second in (0, 1, 2500, 4999):
        with open(path, "rb") as handle:
            seek_to(handle, START + timedelta(seconds=second))
            first = parse_line(handle.readline().decode())
            assert first is not None
            assert first.time <= START + timedelta(seconds=second)
            assert first.time >= START + timedelta(seconds=second) - timedelta(seconds=100)
    with open(path, "rb") as handle:
        seek_to(handle, START + timedelta(days=1))
        assert all(parse_line(line.decode()).time < START + timedelta(days=1)  # type: ignore[union-attr]
                   for line in handle)


def test_recent_cache_ratio_reads_only_the_tail(access_log: Path, tmp_path: Path) -> None:
    whole = recent_cache_ratio(access_log)
    assert whole == {"requests": 120, "cache_hits": 60, "cache_misses": 41,
                     "hit_ratio": round(60 / 101, 4)}
    lines = access_log.read_text().splitlines(keepends=True)
    tail_bytes = len("".join(lines[-25:]).encode()) + 10  # the last 25 lines and a bit
    tail = recent_cache_ratio(access_log, tail_bytes=tail_bytes)
    assert tail is not None
    assert tail["requests"] == 25 - 2  # two unreadable lines at the end
    assert recent_cache_ratio(tmp_path / "missing.log") is None


def test_table_is_readable(access_log: Path) -> None:
    text = format_table(build_report([access_log], storm_threshold=20))
    assert "Requests 120" in text
    assert "Top clients by 403" in text and "10.4.0.3" in text
    assert "Likely cache-busting" in text and "10.6.6.6" in text
    assert "Slowest renders" in text and "slowest-one" in text
    assert "hit ratio 59.4%" in text
    assert format_table(build_report([])) == "no requests in the access log for this period\n"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("1h", 3600), ("1h30m", 5400), ("2d", 172800), ("1w", 604800)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "1", "h", "1x", "-1h", "1h junk", "1.5h"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("", None), ("-", None), ("0.120", 0.12), ("0.002, 0.118", 0.12), ("0.1 : 0.2", 0.3)],
)
def test_parse_upstream_time(text: str, seconds: float | None) -> None:
    result = parse_upstream_time(text)
    assert result == (pytest.approx(seconds) if seconds is not None else None)


def test_since_now() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert since_now("2h", now) == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert since_now(None, now) is None


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "origin.cli", "report", *args],
                          capture_output=True, text=True, cwd=REPO, check=False)


def test_cli_json_and_table(access_log: Path, tmp_path: Path) -> None:
    data = access_log.parent.parent
    result = run_cli("--data", str(data), "--json", "--storm", "25")
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    assert parsed["requests"] == 120
    assert parsed["cache_busting"][0]["client"] == "10.6.6.6"
    table = run_cli("--log", str(access_log))
    assert table.returncode == 0 and "Top clients by 429" in table.stdout
    recent = run_cli("--data", str(data), "--since", "1h")  # the crafted log is in the past
    assert recent.returncode == 0 and "no requests" in recent.stdout
    bad = run_cli("--data", str(data), "--since", "soon")
    assert bad.returncode == 2 and "invalid duration" in bad.stderr
    missing = run_cli("--data", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "no access log" in missing.stderr


def test_report_over_a_real_nginx_access_log(serve: ServerFactory) -> None:
    """Nginx's request id reaches the origin and comes back; the report reads the log."""
    server = serve(nginx=True)
    image_id = ingest_paths(make_settings(server.layout.root), [photo("Storm.jpg")])["Storm.jpg"]
    with server.client() as client:
        miss = client.get(f"/img/_/w_120/{image_id}.jpg")
        hit = client.get(f"/img/_/w_120/{image_id}.jpg")
        bad = client.get(f"/img/_/w_abc/{image_id}.jpg")
    assert (miss.headers["x-cache"], hit.headers["x-cache"]) == ("MISS", "HIT")
    assert bad.status_code == 400
    request_id = miss.headers["x-request-id"]
    assert len(request_id) == 32  # Nginx's $request_id, passed on by the origin
    log = server.layout.logs / "access.log"

    def logged() -> list[dict[str, Any]]:
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines() if line]

    wait_for(lambda: len([e for e in logged() if e["uri"].startswith("/img/")]) >= 3,
             "Nginx to flush its access log")
    assert request_id in {entry["request_id"] for entry in logged()}
    result = subprocess.run(
        [sys.executable, "-m", "origin.cli", "report", "--json", "--data",
         str(server.layout.root), "--config", str(server.layout.root.parent / "pictor.toml")],
        capture_output=True, text=True, cwd=REPO, check=True,
    )
    report = json.loads(result.stdout)
    assert report["cache_hits"] >= 1 and report["cache_misses"] >= 1
    assert report["statuses"]["400"] == 1
    assert request_id in {slow["request_id"] for slow in report["slowest_renders"]}

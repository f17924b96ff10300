"""Cache hits: raw Nginx vs Pictor's hit path through Nginx vs the origin alone.

Three servers over the same rendered variant, measured with wrk side by side in one run:

- raw nginx: a minimal Nginx serving the variant file from a plain static location
  (the ceiling: what Nginx does with no configuration of ours),
- pictor + nginx: `pictor serve` with Nginx in front; the canonical URL is a hit that
  Nginx answers from disk through our regex location and try_files,
- origin only: `pictor serve --no-nginx`; Starlette answers the hit from disk.

Targets (issue 3): Pictor's hits >= 0.9x raw Nginx's throughput and a p99 no worse than
1.5x raw Nginx's p99 in the same round.  Output: results/hits.md, hits.json, hits.png.

    .venv/bin/python bench/hits.py            # ~35 s per round; --rounds N, --duration S
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from common import (
    RESULTS,
    bench_settings,
    cleanup,
    corpus_dir,
    environment_lines,
    free_port,
    ingest_corpus,
    load_average,
    markdown_table,
    running,
    toml_value,
    work_dir,
)

from indexer.layout import DataLayout
from origin import nginx

RAW, FRONT, ORIGIN = "raw nginx", "pictor + nginx", "origin only"
TARGETS = (RAW, FRONT, ORIGIN)
THROUGHPUT_TARGET = 0.9  # pictor + nginx req/s at least this fraction of raw nginx's
P99_TARGET = 1.5  # pictor + nginx p99 at most this multiple of raw nginx's
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class Measurement:
    target: str
    round: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: str


def parse_wrk(text: str, target: str, round_: int) -> Measurement:
    """Requests/sec and the 50 % / 99 % lines of ``wrk --latency``."""

    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        if match is None:
            raise ValueError(f"no {pct}% latency in wrk output:\n{text}")
        return float(match[1]) * UNITS[match[2]]

    rate = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if rate is None:
        raise ValueError(f"no Requests/sec in wrk output:\n{text}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:\s+(.*)$", text, re.M)
    return Measurement(
        target,
        round_,
        float(rate[1]),
        latency("50"),
        latency("99"),
        int(non_2xx[1]) if non_2xx else 0,
        errors[1].strip() if errors else "none",
    )


def wrk(url: str, args: argparse.Namespace, target: str, round_: int) -> Measurement:
    argv = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
            "--latency", url]
    result = subprocess.run(argv, capture_output=True, text=True, check=True)
    return parse_wrk(result.stdout, target, round_)


# ---------------------------------------------------------------- servers


def raw_nginx_config(root: Path, serve_dir: Path, port: int, user: str | None) -> str:
    """As plain as Nginx gets for static files: Debian's defaults (sendfile, tcp_nopush),
    the same keep-alive limit as Pictor's, no access log, no open_file_cache."""
    temp = "\n".join(
        f"    {name}_temp_path {root}/{name};" for name in nginx.TEMP_DIRS
    )
    return f"""{f"user {user};" if user else ""}
worker_processes auto;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    types {{ image/jpeg jpg; image/webp webp; image/avif avif; image/png png; }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 10000;
    access_log off;
{temp}
    server {{
        listen 127.0.0.1:{port} reuseport;
        location /raw/ {{ alias {serve_dir}/; }}
    }}
}}
"""


@contextlib.contextmanager
def raw_nginx(scratch: Path, file: Path, layout: DataLayout) -> Iterator[str]:
    """A minimal Nginx on a free port; yields the URL of ``file``."""
    root = scratch / "raw"
    root.mkdir()
    port = free_port()
    conf = root / "nginx.conf"
    conf.write_text(raw_nginx_config(root, file.parent, port, nginx.worker_user(layout)))
    argv = [nginx.binary() or "nginx", "-p", str(root), "-c", str(conf), "-g", "daemon off;"]
    url = f"http://127.0.0.1:{port}/raw/{file.name}"
    with running(argv, url, root / "stdout.log"):
        yield url


@contextlib.contextmanager
def pictor(scratch: Path, data: Path, with_nginx: bool) -> Iterator[str]:
    port = free_port()
    conf = scratch / f"pictor-{port}.toml"
    conf.write_text(f"[server]\nworkers = {toml_value(2)}\n")
    argv = [sys.executable, "-m", "origin.cli", "serve", "--config", str(conf),
            "--data", str(data), "--port", str(port)]
    if not with_nginx:
        argv.append("--no-nginx")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICTOR_")}
    url = f"http://127.0.0.1:{port}"
    with running(argv, url + "/healthz", scratch / f"serve-{port}.log", env=env, cwd=scratch):
        yield url


def warm(url: str) -> httpx.Response:
    """Render the variant (a miss), then check that the next request is a hit."""
    first = httpx.get(url, timeout=60)
    first.raise_for_status()
    again = httpx.get(url, timeout=60)
    if again.headers.get("x-cache") != "HIT" or again.content != first.content:
        raise RuntimeError(f"{url} is not a hit on the second request: {again.headers}")
    return again


# ---------------------------------------------------------------- report


def median(values: list[float]) -> float:
    return statistics.median(values)


def summarise(results: list[Measurement]) -> dict[str, dict[str, float]]:
    """Per target: medians over rounds, and ratios to raw Nginx of the same round."""
    raw = {m.round: m for m in results if m.target == RAW}
    summary: dict[str, dict[str, float]] = {}
    for target in TARGETS:
        rows = [m for m in results if m.target == target]
        summary[target] = {
            "requests_per_second": median([m.requests_per_second for m in rows]),
            "p50_ms": median([m.p50_ms for m in rows]),
            "p99_ms": median([m.p99_ms for m in rows]),
            "throughput_ratio": median(
                [m.requests_per_second / raw[m.round].requests_per_second for m in rows]
            ),
            "p99_ratio": median([m.p99_ms / raw[m.round].p99_ms for m in rows]),
        }
    return summary


def report(
    results: list[Measurement],
    args: argparse.Namespace,
    info: dict[str, Any],
    load: tuple[str, str],
) -> str:
    summary = summarise(results)
    front = summary[FRONT]
    verdict = [
        f"- throughput: pictor + nginx at {front['throughput_ratio']:.2f}x raw nginx "
        f"(target >= {THROUGHPUT_TARGET}): "
        f"**{'met' if front['throughput_ratio'] >= THROUGHPUT_TARGET else 'missed'}**",
        f"- p99: pictor + nginx at {front['p99_ratio']:.2f}x raw nginx's p99 "
        f"(target <= {P99_TARGET}): **{'met' if front['p99_ratio'] <= P99_TARGET else 'missed'}**",
    ]
    table = markdown_table(
        ["target", "req/s", "p50 ms", "p99 ms", "req/s vs raw", "p99 vs raw"],
        [
            (t, round(s["requests_per_second"]), s["p50_ms"], s["p99_ms"],
             f"{s['throughput_ratio']:.2f}x", f"{s['p99_ratio']:.2f}x")
            for t, s in summary.items()
        ],
    )
    rounds = markdown_table(
        ["round", "target", "req/s", "p50 ms", "p99 ms", "non-2xx", "socket errors"],
        [(m.round, m.target, round(m.requests_per_second), m.p50_ms, m.p99_ms, m.non_2xx,
          m.socket_errors) for m in results],
    )
    return "\n".join([
        "# Cache hits: raw Nginx vs Pictor through Nginx vs origin only",
        "",
        f"`wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency`, "
        f"{args.rounds} round(s), the three targets one after another in each round "
        "(order rotated per round); medians over rounds, ratios taken within a round.",
        f"Variant: `{info['path']}` ({info['bytes']} bytes, {info['type']}).",
        "",
        table,
        "",
        *verdict,
        "",
        "## Every round",
        "",
        rounds,
        "",
        "## Conditions",
        "",
        *environment_lines(),
        f"- nginx: {info['nginx']}; wrk and all servers share the same cores",
        f"- load average before: {load[0]}; after: {load[1]}",
        "- anything else running on the machine moves the absolute numbers (see the load "
        "average); compare the ratios of the same round.",
        "",
    ])


def plot(results: list[Measurement], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarise(results)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    names = list(summary)
    colours = ["#888888", "#2a7ab9", "#d9822b"]
    left.bar(names, [summary[n]["requests_per_second"] for n in names], color=colours)
    left.set_title("throughput (req/s, higher is better)")
    width = 0.38
    positions = range(len(names))
    right.bar([p - width / 2 for p in positions], [summary[n]["p50_ms"] for n in names],
              width, label="p50", color="#9ecae1")
    right.bar([p + width / 2 for p in positions], [summary[n]["p99_ms"] for n in names],
              width, label="p99", color="#08519c")
    right.set_xticks(list(positions), names)
    right.set_yscale("log")  # the origin's hits are two orders of magnitude slower
    right.set_title("latency (ms, log scale, lower is better)")
    right.legend()
    fig.suptitle("Cache hits, wrk -c50, side by side in one run")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# ---------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", help="photo folder (default: the shared corpus)")
    parser.add_argument("--photo", default="Dune.jpg", help="corpus file to serve")
    parser.add_argument("--variant", default="w_800/{id}.jpg", help="options/target")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    return parser.parse_args()


def measure(args: argparse.Namespace, scratch: Path) -> tuple[list[Measurement], dict[str, Any]]:
    photo = corpus_dir(args.corpus) / args.photo
    libraries = {
        name: ingest_corpus(bench_settings(scratch / name / "data"), [photo])
        for name in ("front", "origin")
    }
    image_id = libraries["front"].records[photo.name].id
    path = "/img/_/" + args.variant.format(id=image_id)
    with contextlib.ExitStack() as stack:
        front = stack.enter_context(pictor(scratch, libraries["front"].layout.root, True))
        origin = stack.enter_context(pictor(scratch, libraries["origin"].layout.root, False))
        hit = warm(front + path)
        body = hit.content
        if warm(origin + path).content != body:
            raise RuntimeError("the two servers rendered different bytes")
        layout = libraries["front"].layout
        cached = next(p for p in layout.cache.rglob("*") if p.is_file())
        raw_url = stack.enter_context(raw_nginx(scratch, cached, layout))
        if httpx.get(raw_url).content != body:
            raise RuntimeError("raw nginx does not serve the same file")
        urls = {RAW: raw_url, FRONT: front + path, ORIGIN: origin + path}
        results = []
        for round_ in range(1, args.rounds + 1):
            order = TARGETS[round_ - 1 :] + TARGETS[: round_ - 1]
            for target in order:
                print(f"bench: round {round_}: {target} ...", flush=True)
                results.append(wrk(urls[target], args, target, round_))
    info = {
        "path": path,
        "bytes": len(body),
        "type": hit.headers["content-type"],
        "nginx": subprocess.run([nginx.binary() or "nginx", "-v"], capture_output=True,
                                text=True).stderr.strip(),
    }
    return results, info


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None or not nginx.available():
        sys.exit("bench: needs wrk and nginx (apt-get install wrk nginx)")
    scratch = work_dir("hits")
    try:
        before = load_average()
        results, info = measure(args, scratch)
        after = load_average()
    finally:
        cleanup(scratch, args.keep)
    args.out.mkdir(parents=True, exist_ok=True)
    text = report(results, args, info, (before, after))
    (args.out / "hits.md").write_text(text)
    (args.out / "hits.json").write_text(
        json.dumps({"info": info, "results": [asdict(m) for m in results],
                    "summary": summarise(results)}, indent=2) + "\n"
    )
    plot(results, args.out / "hits.png")
    print(text)


if __name__ == "__main__":
    main()

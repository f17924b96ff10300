"""Mixed load against Nginx + origin: hits, misses and bad URLs at once.

`pictor serve` (Nginx in front, two origin workers) over 16-megapixel originals; 50
connections send requests back to back for 60 s, each one drawn at random:

- 80 % hits: variants rendered during warm-up, which Nginx serves from disk,
- 15 % misses: a size/format never asked before, so the origin renders it (some wider
  than the largest pyramid level, so the 16 MP original itself is decoded),
- 5 % bad URLs: malformed options (400), unknown ids and presets (404), forged
  signatures (403).

Reported: requests and status codes by class, p50/p90/p99/max latency by class, every
5xx (the target is zero), and the peak RSS (VmHWM) of every origin process (target:
under 500 MB).  The closed loop (each connection waits for its answer) is what a
reverse proxy in front of a busy site looks like; the renderer's queue never fills
because at most 50 requests are in flight.  Nginx's per-client rate limit is raised for
the run: every request comes from 127.0.0.1.

    .venv/bin/python bench/load.py                 # ~2 min; --duration S, --connections N

Output: results/load.md and results/load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
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
    percentile,
    toml_value,
    wait_ready,
    work_dir,
)
from PIL import Image

from origin import nginx

MEGAPIXELS = 16_000_000
ORIGINALS = ("seeding_by_Clements_Engelhardt.jpg", "sunset_by_Aitzol_Berasategi.jpg",
             "Bridge_by_Sander_Klootwijk.jpg", "Wine_by_Jakkub_Mede.jpg")
MIX = (("hit", 0.80), ("miss", 0.15), ("bad", 0.05))
HIT_SHAPES = [f"w_{w}" for w in (160, 320, 640, 1024)] + ["fit_cover,h_200,w_200"]
HIT_FORMATS = ("jpg", "webp")
RSS_LIMIT_MB = 500
WIDE_EVERY = 8  # one miss in eight decodes the 16 MP original
REQUEST_TIMEOUT = 120.0


def sixteen_megapixels(source: Path, target: Path) -> Path:
    """``source`` scaled to 16 MP (most corpus photos are smaller), saved as JPEG q90."""
    with Image.open(source) as image:
        scale = (MEGAPIXELS / (image.width * image.height)) ** 0.5
        size = (round(image.width * scale), round(image.height * scale))
        image.convert("RGB").resize(size, Image.Resampling.LANCZOS).save(target, quality=90)
    return target


@dataclass
class Traffic:
    """Draws the next URL of each class; every miss is a URL never asked before."""

    ids: list[str]
    rng: random.Random
    hits: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    miss_serial: int = 0

    def warm_urls(self) -> list[str]:
        urls = [f"/img/_/{shape}/{image_id}.{fmt}" for image_id in self.ids
                for shape in HIT_SHAPES for fmt in HIT_FORMATS]
        self.used.update(urls)
        return urls

    def next(self, kind: str) -> str:
        if kind == "hit":
            return self.rng.choice(self.hits)
        if kind == "miss":
            return self.miss()
        return self.bad()

    def miss(self) -> str:
        """A URL never asked before: mostly page-sized widths (rendered from a pyramid
        level), and one in eight wider than the 2560 level, which decodes the original."""
        while True:
            self.miss_serial += 1
            image_id = self.ids[self.miss_serial % len(self.ids)]
            wide = self.miss_serial % WIDE_EVERY == 0
            width = self.rng.randint(2600, 3900) if wide else self.rng.randint(100, 1600)
            url = f"/img/_/w_{width}/{image_id}.{self.rng.choice(HIT_FORMATS)}"
            if url not in self.used:
                self.used.add(url)
                return url

    def bad(self) -> str:
        image_id = self.rng.choice(self.ids)
        return self.rng.choice([
            f"/img/_/w_abc/{image_id}.jpg",  # 400 malformed option
            f"/img/_/w_100,zz_1/{image_id}.jpg",  # 400 unknown key
            "/img/_/w_100/ffffffffffffffffffff.jpg",  # 404 unknown id
            f"/img/nopreset/{image_id}.jpg",  # 404 unknown preset
            f"/img/{'A' * 32}/w_100/{image_id}.jpg",  # 403 forged signature
        ])


@dataclass
class Sample:
    kind: str
    status: int
    seconds: float
    cache: str


class Connection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams.  httpx costs several
    times more CPU per request, and on 2 shared cores the client's own CPU time shows
    up as latency of the fastest class (hits)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, str]:
        """(status, X-Cache) of ``GET path``; the body is read and dropped."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        request = f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\nAccept: image/webp,*/*\r\n\r\n"
        self.writer.write(request.encode())
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = dict(line.lower().split(": ", 1) for line in head[1:] if ": " in line)
        if headers.get("transfer-encoding") == "chunked":
            while size := int((await self.reader.readline()).strip(), 16):
                await self.reader.readexactly(size + 2)
            await self.reader.readline()
        else:
            await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection") == "close":
            await self.close()
        return status, headers.get("x-cache", "").upper()

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def worker(port: int, traffic: Traffic, deadline: float, samples: list[Sample],
                 rng: random.Random) -> None:
    kinds = [kind for kind, _ in MIX]
    weights = [weight for _, weight in MIX]
    connection = Connection("127.0.0.1", port)
    while time.monotonic() < deadline:
        kind = rng.choices(kinds, weights)[0]
        url = traffic.next(kind)
        started = time.perf_counter()
        try:
            status, cache = await asyncio.wait_for(connection.get(url), REQUEST_TIMEOUT)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            status, cache = 0, ""
            await connection.close()
        samples.append(Sample(kind, status, time.perf_counter() - started, cache))
    await connection.close()


async def drive(port: int, traffic: Traffic, connections: int, duration: float,
                seed: int) -> list[Sample]:
    samples: list[Sample] = []
    deadline = time.monotonic() + duration
    await asyncio.gather(*(
        worker(port, traffic, deadline, samples, random.Random(seed + i))
        for i in range(connections)
    ))
    return samples


def warm_up(url: str, traffic: Traffic) -> None:
    with httpx.Client(base_url=url, timeout=120) as client:
        for path in traffic.warm_urls():
            response = client.get(path)
            if response.status_code != 200:
                sys.exit(f"bench: warm-up {path} answered {response.status_code}")
            traffic.hits.append(path)
        again = client.get(traffic.hits[0])
        if again.headers.get("x-cache") != "HIT":
            sys.exit("bench: a warmed variant is not a hit; is Nginx in front?")


# ---------------------------------------------------------------- processes


def proc_children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def origin_processes(serve_pid: int) -> dict[int, str]:
    """{pid: role} of the Hypercorn master and its workers below ``pictor serve``."""
    roles = {}
    for child in proc_children(serve_pid):
        if "hypercorn" in cmdline(child):
            roles[child] = "origin master"
            for index, worker_pid in enumerate(sorted(proc_children(child)), 1):
                if "spawn_main" in cmdline(worker_pid):  # not the resource tracker
                    roles[worker_pid] = f"origin worker {index}"
    return roles


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the kernel's record of the process's highest resident set size."""
    for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_server(root: Path, port: int, render_threads: int,
                 arena_max: int | None) -> subprocess.Popen[bytes]:
    config = {
        "server": {"workers": 2},
        "limits": {"rate_per_second": 100_000, "rate_burst": 100_000},
        "ai": {"enabled": False},  # CLIP has no part in delivery; keep its worker idle
    }
    if render_threads:
        config["limits"]["render_threads"] = render_threads
    conf = root / "pictor.toml"
    conf.write_text("".join(
        f"[{section}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items())
        for section, values in config.items()
    ))
    argv = [sys.executable, "-m", "origin.cli", "serve", "--config", str(conf),
            "--data", str(root / "data"), "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICTOR_")}
    if arena_max:
        env["MALLOC_ARENA_MAX"] = str(arena_max)
    log = root / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root)
    wait_ready(f"http://127.0.0.1:{port}/healthz", process, log)
    return process


# ---------------------------------------------------------------- report


def summarize(samples: list[Sample], duration: float) -> dict[str, Any]:
    by_kind: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_kind[sample.kind].append(sample)
    classes = {}
    for kind, _ in MIX:
        group = by_kind[kind]
        ms = sorted(s.seconds * 1000 for s in group) or [0.0]
        classes[kind] = {
            "requests": len(group),
            "statuses": dict(sorted(Counter(str(s.status) for s in group).items())),
            "x_cache": dict(sorted(Counter(s.cache or "-" for s in group).items())),
            "p50_ms": percentile(ms, 50), "p90_ms": percentile(ms, 90),
            "p99_ms": percentile(ms, 99), "max_ms": ms[-1],
        }
    return {
        "requests": len(samples),
        "requests_per_second": len(samples) / duration,
        "server_errors": sum(1 for s in samples if s.status >= 500),
        "failed_connections": sum(1 for s in samples if s.status == 0),
        "classes": classes,
    }


def write_report(out: Path, result: dict[str, Any]) -> None:
    summary = result["summary"]
    rows = [[kind, c["requests"], ", ".join(f"{k}: {v}" for k, v in c["statuses"].items()),
             c["p50_ms"], c["p90_ms"], c["p99_ms"], c["max_ms"]]
            for kind, c in summary["classes"].items()]
    rss_rows = [[role, pid, mb, "yes" if mb < RSS_LIMIT_MB else "**no**"]
                for pid, (role, mb) in sorted(result["peak_rss_mb"].items())]
    verdict_5xx = "met" if summary["server_errors"] == 0 else "**missed**"
    verdict_rss = ("met" if all(mb < RSS_LIMIT_MB for _, mb in result["peak_rss_mb"].values())
                   else "**missed**")
    text = "\n".join([
        "# Load: mixed traffic against Nginx + origin",
        "",
        "Produced by `bench/load.py`. The machine is shared with other engineers' test runs:",
        "read the absolute latencies with the load average in mind.",
        "",
        *environment_lines(),
        f"- load average before: {result['load_before']}",
        f"- load average after: {result['load_after']}",
        f"- originals: {len(ORIGINALS)} photos at 16 megapixels "
        "(the corpus photos scaled to 16 MP, JPEG q90), pyramid made at ingest",
        f"- {result['connections']} connections for {result['duration']:.0f} s, closed loop; "
        "mix 80 % hits / 15 % misses / 5 % bad URLs",
        "- server: `pictor serve` with Nginx in front, 2 origin workers, "
        f"`limits.render_threads` {result['render_threads']}, `MALLOC_ARENA_MAX` "
        f"{result['malloc_arena_max']}, default render queue; Nginx rate limit raised (one "
        "client address); `ai.enabled = false`",
        f"- misses: widths 100-1600 px (from a pyramid level), one in {WIDE_EVERY} "
        "2600-3900 px (decodes the 16 MP original); JPEG or WebP",
        "",
        f"**{summary['requests']} requests, {summary['requests_per_second']:.0f} req/s; "
        f"5xx: {summary['server_errors']} (target zero: {verdict_5xx}); failed connections: "
        f"{summary['failed_connections']}.**",
        "",
        markdown_table(["class", "requests", "statuses", "p50 ms", "p90 ms", "p99 ms",
                        "max ms"], rows),
        "",
        f"Peak RSS (VmHWM) of each origin process (target < {RSS_LIMIT_MB} MB: "
        f"{verdict_rss}):",
        "",
        markdown_table(["process", "pid", "peak RSS MB", f"< {RSS_LIMIT_MB} MB"], rss_rows),
        "",
        "X-Cache of the answers by class: "
        + "; ".join(f"{kind}: {c['x_cache']}" for kind, c in summary["classes"].items()),
        "",
    ])
    (out / "load.md").write_text(text)
    (out / "load.json").write_text(json.dumps(result, indent=2, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--corpus")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--keep", action="store_true", help="keep the scratch data")
    parser.add_argument("--render-threads", type=int, default=0,
                        help="limits.render_threads for the server (default: its default)")
    parser.add_argument("--malloc-arena-max", type=int,
                        help="MALLOC_ARENA_MAX for the server's processes (glibc)")
    args = parser.parse_args()
    if not nginx.available():
        sys.exit("bench: nginx is required for the load test")

    root = work_dir("load")
    photos = [sixteen_megapixels(corpus_dir(args.corpus) / name, root / name)
              for name in ORIGINALS]
    library = ingest_corpus(bench_settings(root / "data"), photos)
    traffic = Traffic([record.id for record in library.records.values()],
                      random.Random(args.seed))
    port = free_port()
    server = start_server(root, port, args.render_threads, args.malloc_arena_max)
    url = f"http://127.0.0.1:{port}"
    try:
        warm_up(url, traffic)
        processes = origin_processes(server.pid)
        load_before = load_average()
        samples = asyncio.run(drive(port, traffic, args.connections, args.duration, args.seed))
        load_after = load_average()
        peak = {pid: (role, peak_rss_mb(pid)) for pid, role in processes.items()}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    result = {
        "duration": args.duration, "connections": args.connections,
        "render_threads": args.render_threads or "default",
        "malloc_arena_max": args.malloc_arena_max or "default",
        "load_before": load_before, "load_after": load_after,
        "summary": summarize(samples, args.duration), "peak_rss_mb": peak,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_report(out, result)
    print((out / "load.md").read_text())
    cleanup(root, args.keep)


if __name__ == "__main__":
    main()

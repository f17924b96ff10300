"""Ingest throughput: images/s and MB/s for the corpus, and where the time goes.

    .venv/bin/python bench/ingest.py            # ~6 min on 2 busy cores; --reps N

Paths measured, interleaved rep by rep, each into a fresh data directory:

* folder, in-process: ``indexer.folders.ingest_files`` (what ``pictor ingest`` runs),
  with the pyramid and BlurHash on and off (``output.pyramid = []``, ``ingest.blurhash
  = false``) in all four combinations, plus once with ``os.fsync`` disabled (unsafe,
  only to price the durability);
* folder, CLI: a real ``pictor ingest DIR`` process (adds interpreter start-up);
* HTTP: ``POST /api/images`` (raw body, one request at a time) to a real ``pictor serve
  --no-nginx`` started over an empty data directory (its start-up is not timed).

The phase breakdown comes from ``ingest(profile=...)`` in the in-process runs.
Output: ``bench/results/ingest.md`` and ``ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

# common must come first: it decides which revision of origin/ and indexer/ is imported.
from common import (
    RESULTS,
    Library,
    bench_settings,
    cleanup,
    corpus_dir,
    corpus_photos,
    environment_lines,
    load_average,
    markdown_table,
    pictor_server,
    toml_value,
    work_dir,
)

from indexer.db import open_database
from indexer.folders import Summary, ingest_file
from indexer.ingest import Upload, ingest
from indexer.layout import DataLayout

KEY = re.compile(r"^pk_[A-Za-z0-9_-]{43}$", re.M)
FEATURES = {  # name: config sections
    "pyramid + blurhash": {},
    "pyramid only": {"ingest": {"blurhash": False}},
    "blurhash only": {"output": {"pyramid": []}},
    "neither": {"output": {"pyramid": []}, "ingest": {"blurhash": False}},
}
PHASES = ("hash", "decode", "near-duplicates", "original", "pyramid", "fsync", "blurhash",
          "commit")


def in_process(photos: Sequence[Path], scratch: Path, config: dict[str, Any],
               profile: dict[str, float] | None = None) -> float:
    """Seconds to ingest every photo through the folder-ingest code, in this process."""
    settings = bench_settings(scratch / "data", **config)
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    summary = Summary()
    with closing(open_database(layout.database)) as connection:
        started = time.perf_counter()
        for path in photos:
            if profile is None:
                summary.record(ingest_file(connection, layout, settings, path))
            else:
                ingest(connection, layout, settings, Upload(path.read_bytes(), path.name), profile)
        elapsed = time.perf_counter() - started
    if summary.rejected or summary.duplicates:
        sys.exit(f"bench: unexpected ingest outcome {summary.lines()}")
    return elapsed


def with_profile(photos: Sequence[Path], scratch: Path) -> tuple[float, dict[str, float]]:
    profile: dict[str, float] = {}
    return in_process(photos, scratch, {}, profile), profile


def without_fsync(photos: Sequence[Path], scratch: Path) -> float:
    with mock.patch("os.fsync", lambda fd: None):
        return in_process(photos, scratch, {})


def cli(photos: Sequence[Path], scratch: Path, config: dict[str, Any]) -> float:
    folder = scratch / "import"
    folder.mkdir()
    for path in photos:
        (folder / path.name).symlink_to(path)
    conf = write_config(scratch / "pictor.toml", {"server": {"data_dir": str(scratch / "data")},
                                                   **config})
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICTOR_")}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "origin.cli", "ingest", "--config", str(conf), str(folder)],
        capture_output=True, text=True, env=env, cwd=scratch,
    )
    elapsed = time.perf_counter() - started
    expected = f"added {len(photos)}, exact duplicates 0, rejected 0"
    if result.returncode != 0 or result.stdout.splitlines()[-1] != expected:
        sys.exit(f"bench: pictor ingest failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def http(photos: Sequence[Path], scratch: Path, config: dict[str, Any]) -> float:
    settings = bench_settings(scratch / "data")
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    library = Library(settings, layout, {}, 0.0)
    # CLIP off: the worker would tag each new image at the same time, on the same cores.
    with pictor_server(library, {**config, "ai": {"enabled": False}}) as url:
        key = admin_key(scratch, url)
        bodies = [(path.read_bytes(), content_type(path)) for path in photos]
        with httpx.Client(base_url=url, timeout=120,
                          headers={"Authorization": f"Bearer {key}"}) as client:
            started = time.perf_counter()
            for body, kind in bodies:
                response = client.post("/api/images", content=body,
                                        headers={"Content-Type": kind})
                if response.status_code != 201:
                    sys.exit(f"bench: upload answered {response.status_code}: {response.text}")
            return time.perf_counter() - started


def admin_key(scratch: Path, url: str) -> str:
    port = url.rsplit(":", 1)[1]
    found = KEY.findall((scratch / f"pictor-{port}.log").read_text())
    if len(found) != 1:
        sys.exit("bench: pictor serve did not print its first-run admin key")
    return str(found[0])


def content_type(path: Path) -> str:
    return "image/png" if path.suffix.lower() == ".png" else "image/jpeg"


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    path.write_text("".join(
        f"[{section}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items())
        for section, values in sections.items()))
    return path


@contextmanager
def scratch_dir(keep: bool) -> Iterator[Path]:
    path = work_dir("ingest")
    try:
        yield path
    finally:
        cleanup(path, keep)


def measure(reps: int, photos: Sequence[Path], keep: bool) -> dict[str, Any]:
    runs: dict[str, Callable[[Path], float]] = {
        **{f"folder, in-process, {name}": (lambda s, c=config: in_process(photos, s, c))
           for name, config in FEATURES.items()},
        "folder, in-process, fsync disabled (unsafe)": lambda s: without_fsync(photos, s),
        "folder, pictor ingest CLI, pyramid + blurhash": lambda s: cli(photos, s, {}),
        "folder, pictor ingest CLI, neither": lambda s: cli(photos, s, FEATURES["neither"]),
        "HTTP POST /api/images, pyramid + blurhash": lambda s: http(photos, s, {}),
        "HTTP POST /api/images, neither": lambda s: http(photos, s, FEATURES["neither"]),
    }
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    phases: list[dict[str, float]] = []
    for rep in range(reps):
        for name, run in runs.items():
            with scratch_dir(keep) as scratch:
                seconds[name].append(run(scratch))
            print(f"rep {rep + 1}/{reps}  {name}: {seconds[name][-1]:.2f} s", flush=True)
        with scratch_dir(keep) as scratch:
            phases.append(with_profile(photos, scratch)[1])
    return {"seconds": seconds, "phases": phases, "pyramid": pyramid_options(photos, reps)}


def pyramid_options(photos: Sequence[Path], reps: int) -> list[tuple[str, float, float]]:
    """The first pyramid level of the largest photo with Pillow's ``reducing_gap`` values:
    time and SSIM against a fair (gap-less) LANCZOS resize."""
    import numpy
    from PIL import Image
    from skimage.metrics import structural_similarity

    def pixels(path: Path) -> int:
        with Image.open(path) as image:
            return image.width * image.height

    largest = max(photos, key=pixels)
    with Image.open(largest) as source:
        picture = source.convert("RGB")
    scale = 2560 / max(picture.size)
    size = (round(picture.width * scale), round(picture.height * scale))
    fair = numpy.asarray(picture.resize(size, Image.Resampling.LANCZOS).convert("L"))
    rows = []
    for gap in (None, 3.0, 2.0, 1.0):
        times, level = [], picture
        for _ in range(reps):
            started = time.perf_counter()
            level = picture.resize(size, Image.Resampling.LANCZOS, reducing_gap=gap)
            times.append(time.perf_counter() - started)
        score = float(structural_similarity(fair, numpy.asarray(level.convert("L"))))
        rows.append((f"{largest.name} to 2560, reducing_gap={gap}", 1000 * min(times), score))
    return rows


def report(data: dict[str, Any], photos: Sequence[Path], load_before: str) -> str:
    count = len(photos)
    megabytes = sum(path.stat().st_size for path in photos) / 1e6
    rows = []
    for name, samples in data["seconds"].items():
        median, best = statistics.median(samples), min(samples)
        rows.append((name, median, best, count / best, megabytes / best, 1000 * best / count))
    baseline = min(data["seconds"]["folder, in-process, pyramid + blurhash"])
    phase_totals = {phase: statistics.median(run.get(phase, 0.0) for run in data["phases"])
                    for phase in PHASES}
    total = sum(phase_totals.values())
    phase_rows = [(phase, 1000 * value / count, 100 * value / total)
                  for phase, value in sorted(phase_totals.items(), key=lambda kv: -kv[1])]
    return "\n".join([
        "# Ingest throughput",
        "",
        f"Corpus: {count} photos, {megabytes:.1f} MB (`{photos[0].parent}`); "
        f"{len(data['phases'])} repetitions, medians. Produced by `bench/ingest.py`.",
        "",
        *environment_lines(),
        f"- load average before: {load_before}",
        f"- load average after: {load_average()}",
        "",
        "## Throughput",
        "",
        markdown_table(["path", "median s", "best s", "images/s (best)", "MB/s (best)",
                        "ms/image (best)"], rows),
        "",
        *ratios(data["seconds"], baseline),
        "",
        "## Where the time goes (in-process, pyramid + blurhash)",
        "",
        markdown_table(["phase", "ms/image", "% of ingest"], phase_rows),
        "",
        "Phases: `hash` SHA-256 of the bytes; `decode` validation + full decode + EXIF "
        "orientation + sRGB; `near-duplicates` perceptual hashes and the lookup; "
        "`original` write + fsync + rename + directory fsync; `pyramid` LANCZOS "
        "downscales and their JPEG/PNG encoding; `fsync` of the derived files; "
        "`blurhash` the placeholder (pure Python on a 32 px thumbnail); `commit` the "
        "SQLite insert (WAL, synchronous=FULL). Together `original`, `fsync` and `commit` "
        "are the whole price of durability.",
        "",
        "## The pyramid's first downscale (`indexer/pyramid.py` uses reducing_gap=3.0)",
        "",
        markdown_table(["resize", "best ms", "SSIM vs fair LANCZOS"], data["pyramid"]),
        "",
    ])


def ratios(seconds: dict[str, list[float]], baseline: float) -> list[str]:
    def share(name: str) -> float:
        return min(seconds[name]) / baseline

    return [
        "Best of the repetitions (the least disturbed by other load on the machine), "
        "relative to in-process folder ingest with pyramid and BlurHash (= 1.00):",
        "",
        f"- without BlurHash {share('folder, in-process, pyramid only'):.2f}, without the "
        f"pyramid {share('folder, in-process, blurhash only'):.2f}, without both "
        f"{share('folder, in-process, neither'):.2f};",
        f"- with fsync disabled {share('folder, in-process, fsync disabled (unsafe)'):.2f} "
        "(what durability costs);",
        f"- `pictor ingest` as a process "
        f"{share('folder, pictor ingest CLI, pyramid + blurhash'):.2f}; over HTTP "
        f"{share('HTTP POST /api/images, pyramid + blurhash'):.2f}.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", help="folder of photos (default: the shared corpus)")
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the scratch data")
    args = parser.parse_args()
    photos = corpus_photos(corpus_dir(args.corpus))
    load_before = load_average()
    data = measure(args.reps, photos, args.keep)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ingest.json").write_text(json.dumps(data, indent=1))
    (out / "ingest.md").write_text(report(data, photos, load_before))
    print((out / "ingest.md").read_text())


if __name__ == "__main__":
    main()

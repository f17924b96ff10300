"""Render benchmark: misses at 800 px wide, Pictor side by side with thumbor 7.8.

For every corpus photo and every output format (JPEG, WebP, AVIF) one miss is timed,
repeatedly and interleaved, on five systems in the same run:

- ``inproc``       ``origin.pipeline.render`` called directly (default pyramid)
- ``inproc_flat``  the same without a pyramid (``output.pyramid = []``)
- ``http``         a real ``pictor serve --no-nginx`` with ``cache.max_bytes = 0``, so
                   every request renders (checked: every answer says ``X-Cache: MISS``)
- ``http_flat``    the same server setup over data ingested without a pyramid
- ``thumbor``      thumbor 7.8 over HTTP: file loader, no storage, no result storage

Then the encoder levers are swept in-process (AVIF speed, WebP method) with time,
bytes and SSIM against the unencoded picture.  Results: bench/results/render.{md,json,png}.

    .venv/bin/python bench/render.py [--corpus DIR] [--reps 7]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
from common import (
    RESULTS,
    Library,
    Stats,
    bench_settings,
    cleanup,
    corpus_dir,
    corpus_photos,
    environment_lines,
    ingest_corpus,
    load_average,
    markdown_table,
    pictor_server,
    similarity,
    thumbor_server,
    thumbor_version,
    timed,
    work_dir,
)
from PIL import Image

from origin.delivery import render_job
from origin.options import parse_options
from origin.pipeline import RenderJob, render, run_pipeline

WIDTH = 800
FORMATS = ("jpg", "webp", "avif")
PIL_FORMATS = {"jpg": "JPEG", "webp": "WEBP", "avif": "AVIF"}
THUMBOR_FORMATS = {"jpg": "jpeg", "webp": "webp", "avif": "avif"}
SYSTEMS = ("inproc", "inproc_flat", "http", "http_flat", "thumbor")
BIG_PHOTO = "seeding_by_Clements_Engelhardt.jpg"
TARGET_RATIO = 0.5
TARGET_MS = 500.0
AVIF_SPEEDS = (6, 7, 8, 9, 10)
WEBP_METHODS = (0, 2, 4, 6)

Renderer = Callable[[str, str], bytes]  # (photo file name, format) -> encoded bytes
Samples = dict[tuple[str, str, str], list[float]]  # (system, photo, format) -> seconds


# ---------------------------------------------------------------- the systems


def job_for(library: Library, name: str, fmt: str) -> RenderJob:
    options = parse_options(f"w_{WIDTH}")
    return render_job(library.settings, library.layout, library.records[name], options, fmt)


def inproc(library: Library) -> Renderer:
    return lambda name, fmt: render(job_for(library, name, fmt))


def pictor_http(client: httpx.Client, base: str, library: Library) -> Renderer:
    def get(name: str, fmt: str) -> bytes:
        url = f"{base}/img/_/w_{WIDTH}/{library.records[name].id}.{fmt}"
        response = client.get(url)
        if response.status_code != 200 or response.headers.get("x-cache") != "MISS":
            raise RuntimeError(f"{url}: {response.status_code} {response.headers}")
        return response.content

    return get


def thumbor_http(client: httpx.Client, base: str) -> Renderer:
    def get(name: str, fmt: str) -> bytes:
        filters = f"filters:quality(80):format({THUMBOR_FORMATS[fmt]})"
        response = client.get(f"{base}/unsafe/{WIDTH}x0/{filters}/{name}")
        response.raise_for_status()
        return response.content

    return get


# ---------------------------------------------------------------- correctness pass


def expected_size(library: Library, name: str) -> tuple[int, int]:
    record = library.records[name]
    return WIDTH, round(record.height * WIDTH / record.width)


def check_outputs(
    systems: dict[str, Renderer], library: Library, photos: list[str]
) -> tuple[list[str], dict[tuple[str, str, str], int], dict[tuple[str, str], float]]:
    """One render per (system, photo, format), also a warm-up: sizes and formats checked,
    bytes recorded, and Pictor's picture compared with thumbor's (SSIM)."""
    problems: list[str] = []
    sizes: dict[tuple[str, str, str], int] = {}
    agreement: dict[tuple[str, str], float] = {}
    for name in photos:
        for fmt in FORMATS:
            pictures = {}
            for system, renderer in systems.items():
                data = renderer(name, fmt)
                sizes[system, name, fmt] = len(data)
                picture = Image.open(io.BytesIO(data))
                picture.load()
                pictures[system] = picture
                problems += describe_mismatch(system, name, fmt, picture, library)
            if "thumbor" in pictures and pictures["thumbor"].size == pictures["http"].size:
                agreement[name, fmt] = similarity(pictures["thumbor"], pictures["http"])[0]
    return problems, sizes, agreement


def describe_mismatch(
    system: str, name: str, fmt: str, picture: Image.Image, library: Library
) -> Iterator[str]:
    want = expected_size(library, name)
    if picture.size != want:
        yield f"{system} {name} {fmt}: size {picture.size}, expected {want}"
    if picture.format != PIL_FORMATS[fmt]:
        yield f"{system} {name} {fmt}: format {picture.format}, expected {PIL_FORMATS[fmt]}"


# ---------------------------------------------------------------- timing


def measure(systems: dict[str, Renderer], photos: list[str], reps: int) -> Samples:
    """Interleaved: each repetition visits every photo and format on every system in a
    rotating order, so load changes on the shared machine hit all systems alike."""
    samples: Samples = defaultdict(list)
    names = list(systems)
    for rep in range(reps):
        for index, name in enumerate(photos):
            for fmt in FORMATS:
                shift = (rep + index) % len(names)
                for system in names[shift:] + names[:shift]:
                    seconds, _ = timed(lambda s=system, n=name, f=fmt: systems[s](n, f))
                    samples[system, name, fmt].append(seconds)
        print(f"  repetition {rep + 1}/{reps} done, load {load_average()}", flush=True)
    return samples


Setting = tuple[str, str, int]  # (format, encoder field, value)


def with_encoder(job: RenderJob, field: str, value: int) -> RenderJob:
    return dataclasses.replace(job, encoder=dataclasses.replace(job.encoder, **{field: value}))


def sweep(library: Library, photos: list[str], reps: int) -> list[dict[str, Any]]:
    """AVIF speeds and WebP methods, in-process with the pyramid: time, bytes, SSIM.
    Settings are interleaved per photo and repetition, like the main measurement."""
    output = library.settings.output
    settings: list[Setting] = [("avif", "avif_speed", v) for v in AVIF_SPEEDS]
    settings += [("webp", "webp_method", v) for v in WEBP_METHODS]
    defaults = {
        "avif": ("avif_speed", output.avif_speed),
        "webp": ("webp_method", output.webp_method),
    }
    times: dict[tuple[Setting, str], list[float]] = defaultdict(list)
    encoded: dict[tuple[Setting, str], bytes] = {}
    for _ in range(reps):
        for name in photos:
            for setting in settings:
                fmt, field, value = setting
                job = with_encoder(job_for(library, name, fmt), field, value)
                seconds, data = timed(lambda j=job: render(j))
                times[setting, name].append(seconds * 1000)
                encoded[setting, name] = data
    lossless = {name: run_pipeline(job_for(library, name, "png")) for name in photos}
    rows = []
    for setting in settings:
        fmt, field, value = setting
        base = (fmt, *defaults[fmt])
        medians = [statistics.median(times[setting, n]) for n in photos]
        ratios = [
            m / statistics.median(times[base, n]) for m, n in zip(medians, photos, strict=True)
        ]
        ssims = [
            similarity(lossless[n], Image.open(io.BytesIO(encoded[setting, n])))[0] for n in photos
        ]
        rows.append(
            {
                "format": fmt,
                "setting": field,
                "value": value,
                "median_ms": statistics.median(medians),
                "max_ms": max(medians),
                "big_ms": medians[photos.index(BIG_PHOTO)] if BIG_PHOTO in photos else float("nan"),
                "time_vs_default": statistics.median(ratios),
                "total_kb": sum(len(encoded[setting, n]) for n in photos) / 1024,
                "mean_ssim": statistics.fmean(ssims),
            }
        )
    return rows


# ---------------------------------------------------------------- report


def target_lines(stats: dict[tuple[str, str, str], Stats], photos: list[str]) -> list[str]:
    lines = []
    if BIG_PHOTO in photos:
        for fmt in ("jpg", "webp"):
            ours, theirs = stats["http", BIG_PHOTO, fmt], stats["thumbor", BIG_PHOTO, fmt]
            ratio = ours.median / theirs.median
            verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
            lines.append(
                f"- 16 MP photo ({BIG_PHOTO}), {fmt}: Pictor HTTP median {ours.median:.0f} ms, "
                f"thumbor {theirs.median:.0f} ms, ratio **{ratio:.2f}** "
                f"(target ≤ {TARGET_RATIO}: {verdict})"
            )
    worst = max(
        ((name, fmt) for name in photos for fmt in FORMATS),
        key=lambda key: stats["http", *key].p90,
    )
    slowest = stats["http", *worst]
    verdict = "met" if slowest.p90 < TARGET_MS else "MISSED"
    lines.append(
        f"- slowest miss over HTTP: {worst[0]} {worst[1]}, median {slowest.median:.0f} ms, "
        f"p90 {slowest.p90:.0f} ms (target: every miss < {TARGET_MS:.0f} ms at p90: {verdict})"
    )
    return lines


def per_photo_table(
    stats: dict[tuple[str, str, str], Stats],
    sizes: dict[tuple[str, str, str], int],
    agreement: dict[tuple[str, str], float],
    library: Library,
    photos: list[str],
) -> str:
    rows = []
    for name in photos:
        record = library.records[name]
        megapixels = record.width * record.height / 1e6
        for fmt in FORMATS:
            cell = {s: stats[s, name, fmt] for s in SYSTEMS}
            kb = {s: sizes[s, name, fmt] / 1024 for s in ("http", "thumbor")}
            rows.append(
                [
                    name,
                    f"{megapixels:.1f}",
                    fmt,
                    *(f"{cell[s].median:.0f} / {cell[s].p90:.0f}" for s in SYSTEMS),
                    f"**{cell['http'].median / cell['thumbor'].median:.2f}**",
                    f"{cell['http_flat'].median / cell['thumbor'].median:.2f}",
                    f"{kb['http']:.0f} / {kb['thumbor']:.0f}",
                    f"{agreement.get((name, fmt), float('nan')):.3f}",
                ]
            )
    headers = [
        "photo",
        "MP",
        "fmt",
        "in-process",
        "in-process, no pyramid",
        "HTTP",
        "HTTP, no pyramid",
        "thumbor",
        "HTTP / thumbor",
        "no pyramid / thumbor",
        "KB Pictor / thumbor",
        "SSIM vs thumbor",
    ]
    return markdown_table(headers, rows)


def pyramid_summary(
    stats: dict[tuple[str, str, str], Stats], pyramid: Library, flat: Library, photos: list[str]
) -> str:
    rows = []
    for fmt in FORMATS:
        with_p = [stats["http", n, fmt].median for n in photos]
        without = [stats["http_flat", n, fmt].median for n in photos]
        thumbor = [stats["thumbor", n, fmt].median for n in photos]
        rows.append(
            [
                fmt,
                statistics.median(with_p),
                statistics.median(without),
                max(with_p),
                max(without),
                statistics.median(thumbor),
                max(thumbor),
            ]
        )
    table = markdown_table(
        [
            "fmt",
            "median, pyramid",
            "median, no pyramid",
            "max, pyramid",
            "max, no pyramid",
            "median, thumbor",
            "max, thumbor",
        ],
        rows,
    )
    ingest = (
        f"Ingest of the whole corpus: {pyramid.ingest_seconds:.1f} s with the pyramid, "
        f"{flat.ingest_seconds:.1f} s without "
        f"({(pyramid.ingest_seconds - flat.ingest_seconds) / len(photos) * 1000:.0f} ms "
        "per photo for the pyramid, paid once)."
    )
    return table + "\n\n" + ingest


def sweep_table(rows: list[dict[str, Any]]) -> str:
    body = [
        [
            r["format"],
            f"{r['setting']} = {r['value']}",
            r["median_ms"],
            r["max_ms"],
            r["big_ms"],
            f"{r['time_vs_default']:.2f}",
            r["total_kb"],
            f"{r['mean_ssim']:.4f}",
        ]
        for r in rows
    ]
    return markdown_table(
        [
            "fmt",
            "setting",
            "median ms",
            "max ms",
            f"{BIG_PHOTO[:7]}… ms",
            "time vs default",
            "corpus KB",
            "mean SSIM",
        ],
        body,
    )


# ---------------------------------------------------------------- plot


def plot(stats: dict[tuple[str, str, str], Stats], photos: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [
        ("http", "Pictor HTTP"),
        ("http_flat", "Pictor HTTP, no pyramid"),
        ("thumbor", "thumbor 7.8"),
    ]
    figure, axes = plt.subplots(len(FORMATS), 1, figsize=(13, 11), sharex=True)
    width = 0.8 / len(shown)
    for axis, fmt in zip(axes, FORMATS, strict=True):
        for offset, (system, label) in enumerate(shown):
            xs = [i + (offset - 1) * width for i in range(len(photos))]
            medians = [stats[system, n, fmt].median for n in photos]
            upper = [stats[system, n, fmt].p90 - stats[system, n, fmt].median for n in photos]
            axis.bar(xs, medians, width, yerr=[[0] * len(photos), upper], label=label, capsize=2)
        axis.axhline(TARGET_MS, color="red", linestyle="--", linewidth=1)
        axis.set_ylabel(f"{fmt} miss, ms")
        axis.set_title(f"800 px {fmt} (bar: median, whisker: p90; red: 500 ms)", fontsize=10)
    axes[0].legend(loc="upper left")
    axes[-1].set_xticks(range(len(photos)))
    axes[-1].set_xticklabels([n.rsplit(".", 1)[0][:18] for n in photos], rotation=35, ha="right")
    figure.tight_layout()
    figure.savefig(path, dpi=90)


# ---------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--corpus",
        help="folder of photos (default: $PICTOR_BENCH_CORPUS or ../shared/corpus/photos)",
    )
    parser.add_argument("--reps", type=int, default=7, help="timed repetitions per miss")
    parser.add_argument("--sweep-reps", type=int, default=3, help="repetitions in the sweeps")
    parser.add_argument("--no-sweep", action="store_true", help="skip the encoder sweeps")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--keep", action="store_true", help="keep the scratch data directory")
    return parser.parse_args()


@dataclasses.dataclass
class Run:
    """Everything one benchmark run measured."""

    photos: list[str]
    pyramid: Library
    flat: Library
    samples: Samples
    sizes: dict[tuple[str, str, str], int]
    agreement: dict[tuple[str, str], float]
    problems: list[str]
    sweeps: list[dict[str, Any]]
    load_before: str
    load_after: str = ""

    @property
    def stats(self) -> dict[tuple[str, str, str], Stats]:
        return {key: Stats.of(values) for key, values in self.samples.items()}


def main() -> None:
    args = parse_args()
    corpus = corpus_dir(args.corpus)
    paths = corpus_photos(corpus)
    scratch = work_dir("render")
    load_before = load_average()
    print(f"bench: {len(paths)} photos from {corpus}; load {load_before}", flush=True)
    pyramid = ingest_corpus(bench_settings(scratch / "pyramid" / "data"), paths)
    flat = ingest_corpus(bench_settings(scratch / "flat" / "data", output={"pyramid": []}), paths)
    run = Run([p.name for p in paths], pyramid, flat, {}, {}, {}, [], [], load_before)
    measure_servers(run, corpus, scratch, args.reps)
    if not args.no_sweep:
        print("bench: encoder sweeps", flush=True)
        run.sweeps = sweep(pyramid, run.photos, args.sweep_reps)
    run.load_after = load_average()
    print(write_report(run, args))
    cleanup(scratch, args.keep)


def measure_servers(run: Run, corpus: Path, scratch: Path, reps: int) -> None:
    """Start both Pictor servers and thumbor, check every output, then time them."""
    no_cache: dict[str, dict[str, Any]] = {"cache": {"max_bytes": 0}}
    with ExitStack() as stack, httpx.Client(timeout=120) as client:
        http = stack.enter_context(pictor_server(run.pyramid, no_cache))
        flat_config = {**no_cache, "output": {"pyramid": []}}
        http_flat = stack.enter_context(pictor_server(run.flat, flat_config))
        avif_speed = run.pyramid.settings.output.avif_speed
        thumbor = stack.enter_context(thumbor_server(corpus, avif_speed, scratch))
        systems = {
            "inproc": inproc(run.pyramid),
            "inproc_flat": inproc(run.flat),
            "http": pictor_http(client, http, run.pyramid),
            "http_flat": pictor_http(client, http_flat, run.flat),
            "thumbor": thumbor_http(client, thumbor),
        }
        print("bench: checking every output (and warming up)", flush=True)
        run.problems, run.sizes, run.agreement = check_outputs(systems, run.pyramid, run.photos)
        print(f"bench: timing {reps} repetitions", flush=True)
        run.samples = measure(systems, run.photos, reps)


def write_report(run: Run, args: argparse.Namespace) -> str:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    stats, photos = run.stats, run.photos
    output = run.pyramid.settings.output
    sections = [
        "# Render benchmark: misses at 800 px wide",
        "",
        *environment_lines(),
        f"- thumbor: {thumbor_version()}",
        f"- load average before: {run.load_before}; after: {run.load_after}",
        f"- {args.reps} interleaved repetitions per miss; cells are `median / p90` in ms",
        f"- Pictor: quality {output.quality_default}, AVIF speed {output.avif_speed}, WebP "
        f"method {output.webp_method}, pyramid {output.pyramid}; HTTP = `pictor serve "
        "--no-nginx` with `cache.max_bytes = 0` (every request a miss, checked)",
        f"- thumbor: file loader, no storage, no result storage, `RESPECT_ORIENTATION`, "
        f"`AVIF_SPEED = {output.avif_speed}`; URL `/unsafe/{WIDTH}x0/filters:quality(80):"
        "format(…)/<file>`",
        "",
        "## Targets",
        "",
        *target_lines(stats, photos),
        "",
        "## Misses per photo",
        "",
        per_photo_table(stats, run.sizes, run.agreement, run.pyramid, photos),
        "",
        "## Pyramid: before / after (HTTP medians over the corpus, ms)",
        "",
        pyramid_summary(stats, run.pyramid, run.flat, photos),
        "",
    ]
    if run.sweeps:
        sections += [
            "## Encoder settings (in-process, with pyramid; SSIM against the "
            "unencoded 800 px picture)",
            "",
            sweep_table(run.sweeps),
            "",
        ]
    sections += ["## Problems found", ""]
    sections += [f"- {p}" for p in run.problems] or [
        "- none: every output had the expected size and format"
    ]
    report = "\n".join(sections) + "\n"
    (out / "render.md").write_text(report)
    save_raw(run, out / "render.json")
    plot(stats, photos, out / "render.png")
    return report


def save_raw(run: Run, path: Path) -> None:
    raw = {
        "photos": run.photos,
        "samples_ms": {
            "|".join(k): [round(s * 1000, 2) for s in v] for k, v in run.samples.items()
        },
        "bytes": {"|".join(k): v for k, v in run.sizes.items()},
        "ssim_vs_thumbor": {"|".join(k): v for k, v in run.agreement.items()},
        "sweeps": run.sweeps,
        "problems": run.problems,
        "load_before": run.load_before,
        "load_after": run.load_after,
    }
    path.write_text(json.dumps(raw, indent=1))


if __name__ == "__main__":
    main()

"""Option costs: each creative option relative to a plain resize, in-process.

For three corpus photos (large to small), every option set is rendered as a miss
through ``origin.pipeline.render`` on the ``RenderJob`` that
``origin.delivery.render_job`` builds, interleaved with the plain baseline
(``w_800``, the same format) ``--reps`` times; the table reports the median and the
ratio to the baseline's median.  Also measured: an animated GIF (24 frames) to GIF and
WebP against its still first frame, and the placeholder preview against the AVIF
render it stands in for.  Results: bench/results/options.md.

    .venv/bin/python bench/options.py [--corpus DIR] [--reps 5]
"""

from __future__ import annotations

import argparse
import base64
import statistics
from collections.abc import Callable
from functools import partial
from pathlib import Path

from common import (
    RESULTS,
    Library,
    bench_settings,
    cleanup,
    corpus_dir,
    environment_lines,
    ingest_corpus,
    load_average,
    markdown_table,
    timed,
    work_dir,
)
from PIL import Image, ImageDraw

from indexer.catalog import ImageRecord
from indexer.config import Settings
from origin.delivery import render_job
from origin.options import parse_options
from origin.pipeline import RenderJob, render
from origin.placeholder import expected_ms, render_preview

PHOTOS = ("seeding_by_Clements_Engelhardt.jpg", "Bridge_by_Sander_Klootwijk.jpg", "Dune.jpg")
TEXT = base64.urlsafe_b64encode("© Pictor — naïve café 2026".encode()).decode().rstrip("=")
BASELINE = "w_800"
CASES: list[tuple[str, str]] = [
    ("fit_cover,h_600,w_800", "jpg"),
    ("fit_cover,g_smart,h_600,w_800", "jpg"),
    ("fit_cover,g_face,h_600,w_800", "jpg"),
    ("blur_2,w_800", "jpg"),
    ("blur_20,w_800", "jpg"),
    ("sharpen_1,w_800", "jpg"),
    ("gray_1,w_800", "jpg"),
    ("sepia_1,w_800", "jpg"),
    ("w_800,wm_logo", "jpg"),
    (f"txt_{TEXT},w_800", "jpg"),
    ("maxb_40000,w_800", "jpg"),
    ("maxb_25000,w_800", "webp"),
    ("w_800", "webp"),
    ("maxb_15000,w_800", "avif"),
    ("w_800", "avif"),
]


def render_ms(settings: Settings, library: Library, record: ImageRecord, options: str,
              fmt: str) -> float:
    job = render_job(settings, library.layout, record, parse_options(options), fmt)
    seconds, _ = timed(lambda: render(job))
    return seconds * 1000


def milliseconds(work: Callable[[RenderJob], object], job: RenderJob) -> float:
    seconds, _ = timed(lambda: work(job))
    return seconds * 1000


def interleaved(reps: int, work: dict[str, Callable[[], float]]) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in work}
    for run in work.values():  # warm-up: font, cascade, caches
        run()
    for _ in range(reps):
        for name, run in work.items():
            samples[name].append(run())
    return {name: statistics.median(values) for name, values in samples.items()}


def option_rows(settings: Settings, library: Library, reps: int) -> list[list[object]]:
    rows: list[list[object]] = []
    for name in PHOTOS:
        record = library.records[name]
        for options, fmt in CASES:
            baseline = f"{BASELINE}.{fmt}"
            medians = interleaved(reps, {
                baseline: partial(render_ms, settings, library, record, BASELINE, fmt),
                options: partial(render_ms, settings, library, record, options, fmt),
            })
            shown = options if len(options) < 40 else options[:18] + "…"
            rows.append([name.split("_")[0].split(".")[0], f"`{shown}` .{fmt}",
                         medians[options], medians[baseline],
                         medians[options] / medians[baseline]])
    return rows


def animated_gif(path: Path, frames: int = 24) -> Path:
    made = []
    for index in range(frames):
        frame = Image.new("RGB", (640, 480), (10 * index % 255, 120, 200))
        ImageDraw.Draw(frame).ellipse([index * 20, 100, index * 20 + 160, 260], fill="white")
        made.append(frame)
    made[0].save(path, save_all=True, append_images=made[1:], duration=40, loop=0)
    return path


def animation_rows(settings: Settings, library: Library, reps: int) -> list[list[object]]:
    record = library.records["animated.gif"]
    medians = interleaved(reps, {
        fmt: partial(render_ms, settings, library, record, "w_320", fmt)
        for fmt in ("png", "gif", "webp")
    })
    return [[f"`w_320` .{fmt}", medians[fmt], medians[fmt] / medians["png"]]
            for fmt in ("png", "gif", "webp")]


def placeholder_rows(settings: Settings, library: Library, reps: int) -> list[list[object]]:
    rows: list[list[object]] = []
    for name in PHOTOS[:2]:
        record = library.records[name]
        job = render_job(settings, library.layout, record, parse_options("w_1500"), "avif")
        medians = interleaved(reps, {
            "render": partial(milliseconds, render, job),
            "preview": partial(milliseconds, render_preview, job),
        })
        rows.append([name.split("_")[0], expected_ms(job), medians["render"], medians["preview"],
                     medians["preview"] / medians["render"]])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    scratch = work_dir("options")
    load_before = load_average()
    try:
        logo = scratch / "logo.png"
        Image.new("RGBA", (300, 120), (255, 255, 255, 200)).save(logo)
        settings = bench_settings(scratch / "data", watermarks={"logo": {"path": logo}})
        photos = [corpus_dir(args.corpus) / name for name in PHOTOS]
        library = ingest_corpus(settings, [*photos, animated_gif(scratch / "animated.gif")])
        options = option_rows(settings, library, args.reps)
        animation = animation_rows(settings, library, args.reps)
        placeholder = placeholder_rows(settings, library, args.reps)
    finally:
        cleanup(scratch, args.keep)
    report = "\n".join([
        "# Option costs (in-process misses)",
        "",
        *environment_lines(),
        f"- load before: {load_before}; after: {load_average()}",
        f"- medians of {args.reps} interleaved repetitions after one warm-up",
        "",
        "## Each option against a plain `w_800` of the same format",
        "",
        markdown_table(["photo", "options", "ms", "plain ms", "ratio"], options),
        "",
        "## Animated GIF, 24 frames of 640x480, against its first frame",
        "",
        markdown_table(["options", "ms", "ratio to .png"], animation),
        "",
        "## Placeholder preview against the AVIF render it stands in for (`w_1500`)",
        "",
        markdown_table(["photo", "estimated ms", "render ms", "preview ms", "ratio"],
                       placeholder),
        "",
    ])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "options.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()

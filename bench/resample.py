"""Resampling filters (the ``rs_`` option): time against picture quality at 800 px wide.

The reference for every photo is rendered the slow, exact way: the full original
decoded (no JPEG draft mode, no pyramid), oriented, converted to sRGB, then one LANCZOS
resize straight to the target size.  Each filter is measured twice:

- *as served*: ``origin.pipeline.run_pipeline`` with ``w_800,rs_<filter>`` (pyramid level
  or draft-mode decode, then ``resize(reducing_gap=3)``), which is what a URL gets;
- *filter alone*: the same filter applied once to the full decoded original, which
  shows the filter's own cost and aliasing without the pyramid's help.

Quality is SSIM and PSNR against the reference.  Result: bench/results/resample.md.

    .venv/bin/python bench/resample.py [--corpus DIR] [--reps 5]
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from common import (
    RESULTS,
    Library,
    bench_settings,
    cleanup,
    corpus_dir,
    corpus_photos,
    environment_lines,
    ingest_corpus,
    load_average,
    markdown_table,
    similarity,
    timed,
    work_dir,
)
from PIL import Image

from indexer import imaging
from origin.delivery import render_job
from origin.options import parse_options
from origin.pipeline import RESAMPLERS, run_pipeline

WIDTH = 800
FILTERS = ("lanczos", "bicubic", "bilinear", "box", "nearest")
BIG_PHOTO = "seeding_by_Clements_Engelhardt.jpg"


@dataclass
class FilterResult:
    served_ms: list[float] = field(default_factory=list)
    served_ssim: list[float] = field(default_factory=list)
    served_psnr: list[float] = field(default_factory=list)
    alone_ms: list[float] = field(default_factory=list)
    alone_ssim: list[float] = field(default_factory=list)
    alone_psnr: list[float] = field(default_factory=list)
    big_alone_ms: float = float("nan")


def full_original(library: Library, name: str) -> Image.Image:
    """The whole original, decoded at full size, upright and sRGB (the slow path)."""
    record = library.records[name]
    image = imaging.open_image(str(library.layout.original(record.id)))
    image.load()
    return imaging.drop_opaque_alpha(imaging.to_srgb(imaging.upright(image)))


def target_size(original: Image.Image) -> tuple[int, int]:
    return WIDTH, round(original.height * WIDTH / original.width)


def median_ms(work: Callable[[], Image.Image], reps: int) -> tuple[float, Image.Image]:
    runs = [timed(work) for _ in range(reps)]
    return statistics.median(seconds for seconds, _ in runs) * 1000, runs[0][1]


def measure_photo(
    library: Library, name: str, reps: int, results: dict[str, FilterResult], problems: list[str]
) -> None:
    original = full_original(library, name)
    size = target_size(original)
    reference = original.resize(size, Image.Resampling.LANCZOS, reducing_gap=None)
    for rs in FILTERS:
        result = results[rs]
        job = render_job(
            library.settings,
            library.layout,
            library.records[name],
            parse_options(f"w_{WIDTH},rs_{rs}"),
            "png",
        )
        ms, served = median_ms(lambda job=job: run_pipeline(job), reps)
        if served.size != size:
            problems.append(f"{name} rs_{rs}: size {served.size}, expected {size}")
            continue
        result.served_ms.append(ms)
        ssim, psnr = similarity(reference, served)
        result.served_ssim.append(ssim)
        result.served_psnr.append(psnr)
        filt = RESAMPLERS[rs]
        ms, alone = median_ms(lambda f=filt: original.resize(size, f, reducing_gap=None), reps)
        result.alone_ms.append(ms)
        if name == BIG_PHOTO:
            result.big_alone_ms = ms
        ssim, psnr = similarity(reference, alone)
        result.alone_ssim.append(ssim)
        result.alone_psnr.append(psnr)


def summary_table(results: dict[str, FilterResult]) -> str:
    rows = []
    for rs in FILTERS:
        r = results[rs]
        rows.append(
            [
                f"`rs_{rs}`",
                statistics.median(r.served_ms),
                f"{statistics.fmean(r.served_ssim):.4f}",
                f"{min(r.served_ssim):.4f}",
                statistics.fmean(r.served_psnr),
                statistics.median(r.alone_ms),
                r.big_alone_ms,
                f"{statistics.fmean(r.alone_ssim):.4f}",
                statistics.fmean(r.alone_psnr),
            ]
        )
    headers = [
        "filter",
        "served: median ms",
        "served: mean SSIM",
        "served: min SSIM",
        "served: mean PSNR dB",
        "alone: median ms",
        "alone: 16 MP ms",
        "alone: mean SSIM",
        "alone: mean PSNR dB",
    ]
    return markdown_table(headers, rows)


def per_photo_table(results: dict[str, FilterResult], photos: list[str]) -> str:
    rows = [
        [name, *(f"{results[rs].served_ssim[i]:.4f}" for rs in FILTERS)]
        for i, name in enumerate(photos)
    ]
    return markdown_table(["photo (SSIM as served)", *FILTERS], rows)


def write_report(
    out: Path, results: dict[str, FilterResult], photos: list[str], loads: tuple[str, str]
) -> str:
    lines = [
        f"# Resampling filters: {WIDTH} px wide, against an exact LANCZOS reference",
        "",
        *environment_lines(),
        f"- load average before: {loads[0]}; after: {loads[1]}",
        "- reference: full decode of the original (no draft, no pyramid), upright, sRGB, "
        f"one LANCZOS resize to {WIDTH} px",
        "- *served*: `run_pipeline` for `w_800,rs_<filter>` (pyramid level or draft decode, "
        "then resize with `reducing_gap=3`), decode + resize time, no encoding",
        "- *alone*: the filter applied once to the full decoded original (`reducing_gap=None`)",
        "- SSIM/PSNR on RGBA for transparent photos, else RGB; PSNR capped at 99 dB",
        "",
        summary_table(results),
        "",
        "## SSIM per photo, as served",
        "",
        per_photo_table(results, photos),
        "",
    ]
    report = "\n".join(lines)
    out.mkdir(parents=True, exist_ok=True)
    (out / "resample.md").write_text(report)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", help="folder of photos (default: $PICTOR_BENCH_CORPUS)")
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions per filter")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args()
    paths = corpus_photos(corpus_dir(args.corpus))
    scratch = work_dir("resample")
    before = load_average()
    library = ingest_corpus(bench_settings(scratch / "data"), paths)
    results = {rs: FilterResult() for rs in FILTERS}
    problems: list[str] = []
    for path in paths:
        print(f"  {path.name}", flush=True)
        measure_photo(library, path.name, args.reps, results, problems)
    if problems:
        raise SystemExit("bench: wrong output sizes:\n" + "\n".join(problems))
    print(write_report(args.out, results, [p.name for p in paths], (before, load_average())))
    cleanup(scratch, keep=False)


if __name__ == "__main__":
    main()

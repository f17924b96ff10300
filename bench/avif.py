"""AVIF encoders: Pillow's native AVIF against pillow-avif-plugin, at comparable settings.

DESIGN keeps pillow-avif-plugin only if a measurement shows it wins.  Its only extra
over Pillow 13's native AVIF (libavif with aom) is the SVT-AV1 and rav1e encoders, so
this encodes the same 800 px pictures (Pictor's own pipeline output for every corpus
photo) at Pictor's default quality with:

- native Pillow, aom, at several speeds
- the plugin, aom (expected identical) and SVT-AV1 / rav1e at several speeds

Time is the median encode time per picture; bytes and SSIM (against the lossless
picture, decoded with Pillow's native decoder) tell whether a faster setting simply
throws away quality.  The encoders run in a throwaway virtualenv under bench/work
(same Pillow version as .venv, plus the plugin), each mode in its own process because
importing the plugin silently replaces Pillow's AVIF saver.

    .venv/bin/python bench/avif.py [--corpus DIR] [--reps 3]

Result: bench/results/avif.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from PIL import Image

PLUGIN_VERSION = "1.6.*"
QUALITY = 80
DEFAULT_SPEED = 8  # Pictor's output.avif_speed
# (mode, codec, speed, quality): "native" never imports pillow_avif; "plugin" does.
# SVT-AV1 spends fewer bytes at the same quality number, so it is also measured at
# higher qualities to compare at equal SSIM.
SETTINGS = [
    *(("native", "aom", speed, QUALITY) for speed in (6, 8, 9, 10)),
    ("plugin", "aom", 8, QUALITY),
    *(("plugin", "svt", speed, QUALITY) for speed in (6, 8, 10)),
    *(("plugin", "svt", speed, quality) for speed in (8, 10) for quality in (85, 90)),
    *(("plugin", "rav1e", speed, QUALITY) for speed in (8, 10)),
]


def label_of(setting: tuple[str, str, int, int]) -> str:
    mode, codec, speed, quality = setting
    return f"{mode}-{codec}-s{speed}-q{quality}"


# ---------------------------------------------------------------- worker (throwaway venv)


def worker(mode: str, inputs: Path, out: Path, reps: int) -> None:
    """Encode every PNG in ``inputs`` with every setting of ``mode``; write the files and
    a timings.json.  Runs with nothing but Pillow (and the plugin) installed."""
    Image.init()  # load Pillow's own plugins first, so the import below replaces them
    if mode == "plugin":
        import pillow_avif  # noqa: F401  (replaces Pillow's AVIF saver on import)
    saver = Image.SAVE["AVIF"].__module__
    timings: dict[str, dict[str, float]] = {}
    for setting in (s for s in SETTINGS if s[0] == mode):
        _, codec, speed, quality = setting
        label = label_of(setting)
        (out / label).mkdir(parents=True, exist_ok=True)
        timings[label] = {}
        for source in sorted(inputs.glob("*.png")):
            picture = Image.open(source)
            picture.load()
            times = []
            for _ in range(reps):
                buffer = io.BytesIO()
                started = time.perf_counter()
                picture.save(buffer, "AVIF", quality=quality, speed=speed, codec=codec)
                times.append(time.perf_counter() - started)
            (out / label / f"{source.stem}.avif").write_bytes(buffer.getvalue())
            timings[label][source.stem] = statistics.median(times) * 1000
        print(f"  {label} done (saver {saver})", flush=True)
    (out / f"timings-{mode}.json").write_text(json.dumps({"saver": saver, "ms": timings}))


# ---------------------------------------------------------------- driver (.venv)


def plugin_venv() -> Path:
    """A throwaway venv under bench/work with .venv's Pillow version and the plugin."""
    import PIL
    from common import WORK

    venv = WORK / "venv-avif"
    python = venv / "bin" / "python"
    check = f"import pillow_avif, PIL; assert PIL.__version__ == {PIL.__version__!r}"
    if python.exists() and subprocess.run([python, "-c", check]).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    packages = [f"pillow=={PIL.__version__}", f"pillow-avif-plugin=={PLUGIN_VERSION}"]
    subprocess.run([python, "-m", "pip", "install", "--quiet", *packages], check=True)
    return python


def render_inputs(corpus: Path, directory: Path) -> list[str]:
    """Pictor's own 800 px pictures (before encoding) as lossless PNGs."""
    from common import bench_settings, corpus_photos, ingest_corpus

    from origin.delivery import render_job
    from origin.options import parse_options
    from origin.pipeline import run_pipeline

    library = ingest_corpus(bench_settings(directory / "data"), corpus_photos(corpus))
    options = parse_options("w_800")
    names = []
    for name, record in sorted(library.records.items()):
        job = render_job(library.settings, library.layout, record, options, "avif")
        stem = Path(name).stem
        run_pipeline(job).save(directory / "inputs" / f"{stem}.png", compress_level=1)
        names.append(stem)
    return names


def score(directory: Path, names: list[str]) -> list[dict[str, Any]]:
    """Per setting: median and max encode ms, total KB, mean SSIM (native decoder)."""
    from common import similarity

    timings: dict[str, dict[str, float]] = {}
    savers = {}
    for mode in ("native", "plugin"):
        data = json.loads((directory / "out" / f"timings-{mode}.json").read_text())
        timings.update(data["ms"])
        savers[mode] = data["saver"]
    rows = []
    for setting in SETTINGS:
        mode, codec, speed, quality = setting
        label = label_of(setting)
        ssims, sizes = [], []
        for stem in names:
            encoded = (directory / "out" / label / f"{stem}.avif").read_bytes()
            sizes.append(len(encoded))
            reference = Image.open(directory / "inputs" / f"{stem}.png")
            ssims.append(similarity(reference, Image.open(io.BytesIO(encoded)))[0])
        ms = list(timings[label].values())
        rows.append(
            {
                "label": label,
                "mode": mode,
                "codec": codec,
                "speed": speed,
                "quality": quality,
                "saver": savers[mode],
                "median_ms": statistics.median(ms),
                "max_ms": max(ms),
                "total_kb": sum(sizes) / 1024,
                "mean_ssim": statistics.fmean(ssims),
            }
        )
    return rows


def decision(rows: list[dict[str, Any]], speed: int = DEFAULT_SPEED) -> str:
    """The plugin wins when one of its extra encoders is at least 20 % faster than native
    aom at Pictor's default speed, with no more bytes and no worse SSIM (0.001 slack)."""
    base = next(r for r in rows if r["mode"] == "native" and r["speed"] == speed)
    same = next((r for r in rows if r["mode"] == "plugin" and r["codec"] == "aom"), None)
    lines = [
        f"- baseline: native aom speed {speed}: {base['median_ms']:.0f} ms median, "
        f"{base['total_kb']:.0f} KB, SSIM {base['mean_ssim']:.4f}"
    ]
    if same is not None:
        identical = same["total_kb"] == base["total_kb"] and same["mean_ssim"] == base["mean_ssim"]
        lines.append(
            f"- plugin aom speed {same['speed']}: output identical to native: "
            f"{'yes' if identical else 'no'}"
        )
    fair = [
        r
        for r in rows
        if r["mode"] == "plugin"
        and r["codec"] != "aom"
        and r["total_kb"] <= base["total_kb"]
        and r["mean_ssim"] >= base["mean_ssim"] - 0.001
    ]
    if not fair:
        return "\n".join(
            [
                *lines,
                "- no plugin encoder matches native size and quality: "
                "**native wins**, drop the plugin",
            ]
        )
    best = min(fair, key=lambda r: r["median_ms"])
    wins = best["median_ms"] <= 0.8 * base["median_ms"]
    lines.append(
        f"- fastest plugin setting at no more bytes and equal SSIM: {best['codec']} "
        f"speed {best['speed']} quality {best['quality']}: {best['median_ms']:.0f} ms "
        f"({best['median_ms'] / base['median_ms']:.2f}x), {best['total_kb']:.0f} KB, "
        f"SSIM {best['mean_ssim']:.4f}: **{'plugin wins' if wins else 'native wins'}**"
    )
    return "\n".join(lines)


def write_report(out: Path, rows: list[dict[str, Any]], reps: int, loads: list[str]) -> str:
    from common import environment_lines, markdown_table

    body = [
        [
            r["mode"],
            r["codec"],
            r["speed"],
            r["quality"],
            r["median_ms"],
            r["max_ms"],
            r["total_kb"],
            f"{r['mean_ssim']:.4f}",
        ]
        for r in rows
    ]
    lines = [
        "# AVIF: Pillow native vs pillow-avif-plugin",
        "",
        *environment_lines(),
        f"- pillow-avif-plugin {PLUGIN_VERSION} in a throwaway venv with the same Pillow",
        f"- load average before: {loads[0]}; after: {loads[1]}",
        f"- input: Pictor's 800 px picture of every corpus photo; quality {QUALITY}; "
        f"median of {reps} encodes per picture; SSIM against the lossless picture",
        f"- savers: native = `{rows[0]['saver']}`, plugin = `{rows[-1]['saver']}`",
        "",
        markdown_table(
            [
                "encoder",
                "codec",
                "speed",
                "quality",
                "median ms",
                "max ms",
                "corpus KB",
                "mean SSIM",
            ],
            body,
        ),
        "",
        "## Verdict (computed)",
        "",
        decision(rows),
        "",
    ]
    report = "\n".join(lines)
    out.mkdir(parents=True, exist_ok=True)
    (out / "avif.md").write_text(report)
    (out / "avif.json").write_text(json.dumps(rows, indent=1))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", help="folder of photos (default: $PICTOR_BENCH_CORPUS)")
    parser.add_argument("--reps", type=int, default=3, help="encodes per picture and setting")
    parser.add_argument("--out", type=Path, help="results folder (default bench/results)")
    parser.add_argument("--worker", choices=["native", "plugin"], help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.dir / "inputs", args.dir / "out", args.reps)
        return
    drive(args)


def drive(args: argparse.Namespace) -> None:
    from common import RESULTS, cleanup, corpus_dir, load_average, work_dir

    python = plugin_venv()
    scratch = work_dir("avif")
    (scratch / "inputs").mkdir()
    before = load_average()
    names = render_inputs(corpus_dir(args.corpus), scratch)
    # SVT-AV1 prints its whole configuration to stderr on every encode; SVT_LOG=1 keeps
    # only errors.
    env = {**os.environ, "SVT_LOG": "1"}
    for mode in ("native", "plugin"):
        argv = [python, __file__, "--worker", mode, "--dir", str(scratch), "--reps", str(args.reps)]
        subprocess.run(argv, env=env, check=True)
    rows = score(scratch, names)
    print(write_report(args.out or RESULTS, rows, args.reps, [before, load_average()]))
    cleanup(scratch, keep=False)


if __name__ == "__main__":
    main()

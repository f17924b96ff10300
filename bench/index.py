"""Indexer benchmark: full-text and semantic query latency at 100,000 rows, near-duplicate
lookup at 1,000,000 hashes, CLIP ViT-B-32 throughput — each next to a naive baseline
measured in the same run, so the ratios mean something on a shared machine.

    .venv/bin/python bench/index.py              # ~5 min; --rows, --hashes, --reps, --no-clip

Output: ``results/index.md``.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    RESULTS,
    cleanup,
    corpus_dir,
    corpus_photos,
    environment_lines,
    load_average,
    markdown_table,
    percentile,
    work_dir,
)

from indexer.db import open_database
from indexer.embeddings import top_k
from indexer.hash_index import HashIndex, close_pairs
from indexer.search import text_search
from indexer.vocabulary import load_vocabulary

Row = list[Any]


def latencies(work: Callable[[], Any], reps: int) -> list[float]:
    """Milliseconds of ``reps`` runs after one warm-up run."""
    work()
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    return sorted(samples)


def summary(name: str, samples: Sequence[float]) -> Row:
    return [name, statistics.median(samples), percentile(samples, 95), len(samples)]


# ---------------------------------------------------------------- full-text search


def build_library(path: Path, rows: int, words: list[str]) -> None:
    """``rows`` synthetic images with titles, alt-texts, descriptions and 3 to 8 tags drawn
    from the vocabulary; the triggers fill the FTS index as in production."""
    rng = random.Random(5)
    with closing(open_database(path)) as db:
        db.execute("BEGIN")
        for n in range(rows):
            image_id = f"{n:020x}"
            pick = rng.sample(words, 12)
            db.execute(
                "INSERT INTO images (id, sha256, bytes, width, height, format, filename, title,"
                " alt, description) VALUES (?, ?, 1, 1, 1, 'jpeg', ?, ?, ?, ?)",
                (
                    image_id,
                    image_id * 3,
                    f"IMG_{n:06d}.jpg",
                    f"{pick[0]} and {pick[1]}",
                    f"A photo of {pick[2]} with {pick[3]}",
                    " ".join(pick[4:8]) + " on holiday",
                ),
            )
            tags = rng.sample(words, rng.randint(3, 8))
            db.executemany(
                "INSERT OR IGNORE INTO tags (image_id, tag, source, score) VALUES (?, ?, 'ai', ?)",
                [(image_id, tag, round(rng.uniform(0.2, 0.35), 4)) for tag in tags],
            )
        db.execute("COMMIT")


def like_search(db: sqlite3.Connection, word: str) -> list[Any]:
    """The naive alternative: a substring scan over every text column and the tags,
    finding every match (ranking needs them all, as FTS5's bm25 does)."""
    pattern = f"%{word}%"
    return db.execute(
        "SELECT id FROM images i WHERE title LIKE ?1 OR alt LIKE ?1 OR description LIKE ?1"
        " OR filename LIKE ?1 OR EXISTS (SELECT 1 FROM tags t WHERE t.image_id = i.id"
        " AND t.tag LIKE ?1)",
        (pattern,),
    ).fetchall()


def bench_text(work: Path, rows: int, reps: int) -> tuple[list[Row], str]:
    words = sorted({w for label in load_vocabulary().names for w in label.split() if w.isalpha()})
    path = work / "fts.db"
    started = time.perf_counter()
    build_library(path, rows, load_vocabulary().names)
    build = time.perf_counter() - started
    rng = random.Random(7)
    queries = {
        "one word": [rng.choice(words) for _ in range(reps)],
        "two words": [f"{rng.choice(words)} {rng.choice(words)}" for _ in range(reps)],
        "prefix (3 letters*)": [rng.choice(words)[:3] + "*" for _ in range(reps)],
    }
    table: list[Row] = []
    with closing(sqlite3.connect(path)) as db:
        for name, texts in queries.items():
            cycle = iter(texts * 2)
            table.append(
                summary(
                    f"FTS5 bm25, {name}",
                    latencies(lambda c=cycle: text_search(db, next(c), 20), reps),
                )
            )
        singles = iter(queries["one word"] * 2)
        table.append(
            summary(
                "baseline: LIKE scan for all matches, one word",
                latencies(lambda: like_search(db, next(singles)), max(5, reps // 5)),
            )
        )
    size = path.stat().st_size / 1e6
    return table, f"{rows:,} rows built in {build:.0f} s; database {size:.0f} MB"


# ---------------------------------------------------------------- semantic search


def random_unit(rows: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((rows, dim), dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def bench_semantic(rows: int, reps: int) -> list[Row]:
    matrix = random_unit(rows, 512, 1)
    queries = iter(random_unit(reps * 2 + 2, 512, 2))
    table = [
        summary(
            f"cosine top-20 over {rows:,} x 512 (argpartition)",
            latencies(lambda: top_k(matrix, next(queries), 20, -1.0), reps),
        )
    ]

    def full_sort() -> Any:
        return np.argsort(-(matrix @ next(queries)))[:20]

    table.append(summary("baseline: cosine + full argsort", latencies(full_sort, reps)))
    return table


# ---------------------------------------------------------------- near-duplicates


def bench_hashes(count: int, reps: int) -> tuple[list[Row], str]:
    rng = np.random.default_rng(3)
    phashes = rng.integers(-(2**63), 2**63 - 1, size=count, dtype=np.int64)
    dhashes = rng.integers(-(2**63), 2**63 - 1, size=count, dtype=np.int64)
    index = HashIndex()
    index.load_arrays([f"{n:020x}" for n in range(count)], phashes, dhashes)
    picks = iter(rng.integers(0, count, size=reps * 2 + 2).tolist())

    def one() -> Any:
        n = next(picks)
        return index.search([(int(phashes[n]), int(dhashes[n]))], 12, 16)

    def eight() -> Any:
        n = next(picks)
        return index.search([(int(phashes[n]) ^ k, int(dhashes[n])) for k in range(8)], 12, 16)

    table = [
        summary(f"lookup in {count:,} hashes (numpy XOR + bitwise_count)", latencies(one, reps)),
        summary("same, 8 orientations of the query", latencies(eight, reps)),
    ]
    values = phashes.tolist()

    def python_loop() -> Any:
        query = values[0]
        return [i for i, v in enumerate(values) if ((v ^ query) & (2**64 - 1)).bit_count() <= 12]

    table.append(summary("baseline: per-row Python loop", latencies(python_loop, 3)))
    cluster_n = 20_000
    started = time.perf_counter()
    close_pairs(phashes[:cluster_n], dhashes[:cluster_n], 12, 16)
    pairs_seconds = time.perf_counter() - started
    note = f"all-pairs scan for clusters at {cluster_n:,} hashes: {pairs_seconds:.2f} s"
    return table, note


# ---------------------------------------------------------------- CLIP throughput


def bench_clip(corpus: Path, reps: int) -> list[Row]:
    # Running a script from bench/ puts bench/ first on sys.path, where bench/profile.py
    # would shadow the standard library module that torch imports (through cProfile).
    here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    import open_clip
    import torch

    from indexer.worker import load_clip_picture

    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    model.eval()
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    pictures = [load_clip_picture(path) for path in corpus_photos(corpus)]
    batch16 = torch.stack([preprocess(pictures[i % len(pictures)]) for i in range(16)])
    single = batch16[:1]
    table: list[Row] = []
    with torch.inference_mode():
        for size, batch in ((1, single), (16, batch16)):
            samples = latencies(lambda b=batch: model.encode_image(b), reps)
            per_image = statistics.median(samples) / size
            table.append(
                [f"image batch {size}", statistics.median(samples), per_image, 1000 / per_image]
            )
        tokens = tokenizer(["a photo of a dog on a beach"])
        samples = latencies(lambda: model.encode_text(tokens), reps)
        table.append(
            [
                "text batch 1 (a search query)",
                statistics.median(samples),
                statistics.median(samples),
                1000 / statistics.median(samples),
            ]
        )
    preprocess_ms = latencies(lambda: [preprocess(p) for p in pictures[:8]], 3)
    per = statistics.median(preprocess_ms) / 8
    table.append(["preprocess (resize, crop, normalise) per image", per, per, 1000 / per])
    return table


# ---------------------------------------------------------------- report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", help="photos for the CLIP timing")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--no-clip", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep bench/work/index")
    args = parser.parse_args()
    work = work_dir("index")
    load_before = load_average()
    headers = ["measurement", "median ms", "p95 ms", "runs"]
    lines = [
        "# Indexer benchmark (bench/index.py)",
        "",
        *environment_lines(),
        f"- load before: {load_before}",
        "",
    ]
    try:
        text, text_note = bench_text(work, args.rows, args.reps)
        lines += ["## Full-text search", "", text_note, "", markdown_table(headers, text), ""]
        semantic = bench_semantic(args.rows, args.reps)
        lines += [
            "## Semantic search (index side; add the CLIP text encoder below)",
            "",
            markdown_table(headers, semantic),
            "",
        ]
        hashes, pairs_note = bench_hashes(args.hashes, args.reps)
        lines += [
            "## Near-duplicate lookup (target < 5 ms at 1,000,000)",
            "",
            markdown_table(headers, hashes),
            "",
            pairs_note,
            "",
        ]
        if not args.no_clip:
            clip = bench_clip(corpus_dir(args.corpus), max(3, args.reps // 10))
            lines += [
                "## CLIP ViT-B-32 on this CPU (random weights, same cost as real ones)",
                "",
                markdown_table(["work", "median ms per call", "ms per item", "items/s"], clip),
                "",
            ]
    finally:
        cleanup(work, args.keep)
    lines += [f"- load after: {load_average()}", ""]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared helpers for the render, resample and AVIF benchmarks.

Benchmarks compare systems side by side in one run and report ratios; absolute
milliseconds on a shared 2-core machine move with the load, so every result file
records the load average next to the numbers.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
WORK = BENCH / "work"  # gitignored scratch space
REVISION_ENV = "PICTOR_BENCH_REV"


def use_revision() -> str:
    """With ``$PICTOR_BENCH_REV`` set (e.g. ``HEAD``), benchmark that committed revision of
    ``origin``/``indexer`` instead of the working tree: the tree is shared with other
    engineers and may be half-edited.  The revision is extracted with ``git archive`` and
    put first on ``sys.path`` (and ``PYTHONPATH``, for the servers started later)."""
    rev = os.environ.get(REVISION_ENV)
    if not rev:
        return "working tree"
    sha = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", rev],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    snapshot = WORK / f"tree-{sha}"
    if not snapshot.exists():
        WORK.mkdir(exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix="tree-", dir=WORK))
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", sha, "origin", "indexer", "sql", "nginx"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(partial)], input=archive, check=True)
        partial.rename(snapshot)
    sys.path.insert(0, str(snapshot))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(snapshot), os.environ.get("PYTHONPATH")])
    )
    return f"revision {sha}"


TREE = use_revision()

# These imports must follow use_revision(), which decides where they come from.
from indexer.catalog import ImageRecord, get_image  # noqa: E402
from indexer.config import Settings  # noqa: E402
from indexer.db import open_database  # noqa: E402
from indexer.folders import collect, ingest_files  # noqa: E402
from indexer.layout import DataLayout  # noqa: E402

THUMBOR_VENV = BENCH / ".venv-thumbor"
CORPUS_ENV = "PICTOR_BENCH_CORPUS"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".avif", ".gif", ".tif", ".tiff", ".bmp"}


# ---------------------------------------------------------------- corpus and data


def corpus_dir(explicit: str | None = None) -> Path:
    """``--corpus``, else ``$PICTOR_BENCH_CORPUS``, else ``$PICTOR_SHARED/corpus/photos``,
    else ``../shared/corpus/photos`` beside the repository."""
    if explicit:
        return Path(explicit).resolve()
    if os.environ.get(CORPUS_ENV):
        return Path(os.environ[CORPUS_ENV]).resolve()
    shared = Path(os.environ.get("PICTOR_SHARED", REPO.parent / "shared"))
    return (shared / "corpus" / "photos").resolve()


def corpus_photos(directory: Path) -> list[Path]:
    photos = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not photos:
        sys.exit(f"bench: no photos in {directory} (set --corpus or ${CORPUS_ENV})")
    return photos


def work_dir(name: str) -> Path:
    """A fresh scratch directory under bench/work (world-readable, see NOTES on Nginx)."""
    WORK.mkdir(exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=WORK))
    path.chmod(0o755)
    return path


def bench_settings(data_dir: Path, **sections: dict[str, Any]) -> Settings:
    """Defaults plus ``sections``; never the developer's pictor.toml or PICTOR_* variables."""
    server = {"data_dir": data_dir, **sections.pop("server", {})}
    return Settings.model_validate({"server": server, **sections})


@dataclass
class Library:
    """An ingested corpus: its settings, layout and one record per photo file name."""

    settings: Settings
    layout: DataLayout
    records: dict[str, ImageRecord]
    ingest_seconds: float


def ingest_corpus(settings: Settings, photos: Sequence[Path]) -> Library:
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    with closing(open_database(layout.database)) as db:
        started = time.perf_counter()
        summary = ingest_files(db, layout, settings, collect(photos, recursive=False))
        elapsed = time.perf_counter() - started
        if summary.rejected:
            sys.exit(f"bench: ingest rejected {summary.rejected}")
        ids = summary.added + summary.duplicates
        records = {path.name: _must(get_image(db, image_id)) for path, image_id in ids}
    return Library(settings, layout, records, elapsed)


def _must(record: ImageRecord | None) -> ImageRecord:
    assert record is not None
    return record


# ---------------------------------------------------------------- timing


@dataclass(frozen=True)
class Stats:
    median: float  # milliseconds
    p90: float
    n: int

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Stats:
        ms = sorted(s * 1000 for s in seconds)
        return cls(statistics.median(ms), percentile(ms, 90), len(ms))


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (numpy's default), of already sorted values."""
    return float(np.percentile(np.asarray(sorted_values), pct))


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min, {os.cpu_count()} cores)"


def environment_lines() -> list[str]:
    import PIL

    return [
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, Pillow {PIL.__version__}",
        f"- code measured: {TREE}",
    ]


# ---------------------------------------------------------------- picture quality


ALPHA_MODES = ("RGBA", "LA", "PA")


def as_array(image: Image.Image, alpha: bool) -> np.ndarray:
    """RGBA pixels when comparing two transparent pictures; otherwise RGB with any
    transparency flattened on white, the way JPEG output is."""
    if alpha:
        return np.asarray(image.convert("RGBA"))
    if image.mode in (*ALPHA_MODES, "P"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        image = canvas
    return np.asarray(image.convert("RGB"))


def similarity(reference: Image.Image, candidate: Image.Image) -> tuple[float, float]:
    """(SSIM, PSNR in dB) of ``candidate`` against ``reference``, same size required."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    if reference.size != candidate.size:
        raise ValueError(f"size {candidate.size} differs from reference {reference.size}")
    alpha = reference.mode in ALPHA_MODES and candidate.mode in ALPHA_MODES
    ref, got = as_array(reference, alpha), as_array(candidate, alpha)
    ssim = structural_similarity(ref, got, channel_axis=2, data_range=255)
    psnr = peak_signal_noise_ratio(ref, got, data_range=255)
    return float(ssim), float(min(psnr, 99.0))  # identical pictures give inf


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited early:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def running(argv: list[str], ready_url: str, log: Path, **popen: Any) -> Iterator[None]:
    """Start a server process, wait for ``ready_url`` to answer 200, stop it afterwards."""
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **popen)
    try:
        wait_ready(ready_url, process, log)
        yield
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@contextlib.contextmanager
def pictor_server(library: Library, config: dict[str, dict[str, Any]]) -> Iterator[str]:
    """``pictor serve --no-nginx`` on a free port over an ingested data directory."""
    port = free_port()
    root = library.layout.root.parent
    conf = root / f"pictor-{port}.toml"
    conf.write_text(
        "".join(
            f"[{section}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items())
            for section, values in config.items()
        )
    )
    argv = [
        sys.executable,
        "-m",
        "origin.cli",
        "serve",
        "--no-nginx",
        "--config",
        str(conf),
        "--data",
        str(library.layout.root),
        "--port",
        str(port),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICTOR_")}
    url = f"http://127.0.0.1:{port}"
    with running(argv, url + "/healthz", root / f"pictor-{port}.log", env=env, cwd=root):
        yield url


def ensure_thumbor() -> Path:
    """The thumbor virtualenv, created by setup_thumbor.sh when missing."""
    binary = THUMBOR_VENV / "bin" / "thumbor"
    if not binary.exists():
        subprocess.run(["bash", str(BENCH / "setup_thumbor.sh")], check=True)
    return binary


def thumbor_version() -> str:
    python = THUMBOR_VENV / "bin" / "python"
    code = "import thumbor, PIL; print(thumbor.__version__, 'on Pillow', PIL.__version__)"
    return subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()


@contextlib.contextmanager
def thumbor_server(root: Path, avif_speed: int, scratch: Path) -> Iterator[str]:
    """thumbor with the file loader over ``root``, no storage, no result storage."""
    binary = ensure_thumbor()
    port = free_port()
    conf = scratch / "thumbor.conf"
    conf.write_text(
        "LOADER = 'thumbor.loaders.file_loader'\n"
        f"FILE_LOADER_ROOT_PATH = {str(root)!r}\n"
        "STORAGE = 'thumbor.storages.no_storage'\n"
        "RESULT_STORAGE = None\n"
        "ALLOW_UNSAFE_URL = True\n"
        "QUALITY = 80\n"
        # Pictor applies EXIF orientation; thumbor must do the same work to be comparable.
        "RESPECT_ORIENTATION = True\n"
        # Same AVIF effort as Pictor's setting, so AVIF compares renderers, not speeds.
        f"AVIF_SPEED = {avif_speed}\n"
    )
    argv = [str(binary), "-p", str(port), "-c", str(conf), "-l", "warning"]
    url = f"http://127.0.0.1:{port}"
    with running(argv, url + "/healthcheck", scratch / "thumbor.log"):
        yield url


# ---------------------------------------------------------------- output


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def cleanup(path: Path, keep: bool) -> None:
    if keep:
        print(f"bench: kept scratch data in {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)

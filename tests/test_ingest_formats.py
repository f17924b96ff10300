"""HEIC, SVG and camera RAW inputs: stored as uploaded, rendered by the real server from
pixels, and SVG without ever touching a file or a URL it names."""

from __future__ import annotations

import io
import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from PIL import Image

from indexer.catalog import ImageRecord
from indexer.config import Settings
from indexer.db import open_database
from indexer.ingest import Upload, ingest
from indexer.layout import DataLayout
from indexer.masters import pixel_source
from tests import ingest_samples as samples
from tests.conftest import ServerFactory, load_test_settings

RED = (220, 20, 20)


@pytest.fixture
def store(settings: Settings) -> Iterator[tuple[sqlite3.Connection, DataLayout]]:
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    with closing(open_database(layout.database)) as connection:
        yield connection, layout


def add(
    store: tuple[sqlite3.Connection, DataLayout], settings: Settings, data: bytes
) -> ImageRecord:
    connection, layout = store
    return ingest(connection, layout, settings, Upload(data, "upload"))


def close_to(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(int(a) - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


def assert_red_left_blue_right(picture: Image.Image) -> None:
    rgb = picture.convert("RGB")
    width, height = rgb.size
    left = rgb.getpixel((width // 4, height // 2))
    right = rgb.getpixel((3 * width // 4, height // 2))
    assert isinstance(left, tuple) and isinstance(right, tuple)
    assert dominant(left) == 0, left  # red (a DNG's colours depend on its colour matrix)
    assert dominant(right) == 2, right  # blue


def dominant(pixel: tuple[int, ...], margin: int = 60) -> int | None:
    """The channel that clearly outweighs the other two, if any."""
    for channel in range(3):
        others = [pixel[c] for c in range(3) if c != channel]
        if all(pixel[channel] >= other + margin for other in others):
            return channel
    return None


def test_heic_from_an_iphone_is_accepted_with_its_exif(
    store: tuple[sqlite3.Connection, DataLayout], settings: Settings
) -> None:
    data = samples.heic()
    assert data[4:12] == b"ftypheic"
    record = add(store, settings, data)
    assert (record.format, record.width, record.height) == ("heif", 400, 200)
    assert record.camera == "Apple iPhone 15 Pro"
    assert record.taken_at == "2024-05-06T07:08:09+02:00"
    _, layout = store
    assert layout.original(record.id).read_bytes() == data
    with Image.open(pixel_source(record, layout.original(record.id), Path("unused"))) as stored:
        assert_red_left_blue_right(stored)


def test_dng_is_demosaiced_through_libraw_into_a_master(
    store: tuple[sqlite3.Connection, DataLayout], settings: Settings
) -> None:
    data = samples.dng()
    record = add(store, settings, data)
    assert (record.format, record.width, record.height) == ("dng", 384, 256)
    assert record.camera == "PictorCam Mark I"
    _, layout = store
    assert layout.original(record.id).read_bytes() == data
    master = pixel_source(record, layout.original(record.id), layout.pyramid_dir(record.id))
    assert master.name == "master.jpg"
    with Image.open(master) as picture:
        assert picture.size == (384, 256)
        assert_red_left_blue_right(picture)


def test_an_ordinary_tiff_is_not_mistaken_for_raw(
    store: tuple[sqlite3.Connection, DataLayout], settings: Settings
) -> None:
    data = samples.encoded(samples.left_right_picture(), "TIFF")
    record = add(store, settings, data)
    assert record.format == "tiff"
    _, layout = store
    assert not (layout.pyramid_dir(record.id) / "master.jpg").exists()


def test_a_truncated_dng_is_unprocessable(
    store: tuple[sqlite3.Connection, DataLayout], settings: Settings
) -> None:
    data = samples.dng()
    with pytest.raises(Exception) as caught:
        add(store, settings, data[: len(data) // 3])
    assert getattr(caught.value, "status", None) in (415, 422)


class Listener:
    """A TCP port that counts connections: proves that nothing was fetched."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def test_hostile_svg_is_sanitised_and_fetches_nothing(
    store: tuple[sqlite3.Connection, DataLayout],
    settings: Settings,
    tmp_path: Path,
    listener: Listener,
) -> None:
    green = tmp_path / "secret.png"
    Image.new("RGB", (400, 200), (0, 255, 0)).save(green)
    data = samples.svg_hostile(green).replace(b"127.0.0.1:9", f"127.0.0.1:{listener.port}".encode())
    record = add(store, settings, data)
    assert (record.format, record.width, record.height) == ("svg", 2048, 1024)
    _, layout = store
    assert layout.original(record.id).read_bytes() == data  # the upload itself is kept as-is
    master = pixel_source(record, layout.original(record.id), layout.pyramid_dir(record.id))
    with Image.open(master) as picture:
        assert picture.size == (2048, 1024)
        assert_red_left_blue_right(picture)
        colours = picture.convert("RGB").getcolors(maxcolors=1 << 16) or []
    greenish = sum(count for count, rgb in colours if close_to(rgb, (0, 255, 0), 60))
    assert greenish == 0, "the SVG pulled in a local file"
    assert listener.connections == 0, "the SVG reached the network"


def test_svg_raster_edge_is_configurable_and_keeps_the_aspect_ratio(tmp_path: Path) -> None:
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "data", ingest={"svg_raster_edge": 300})
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="50000">'
        b'<rect width="50000" height="50000" fill="#dc1414"/>'
        b'<rect x="50000" width="50000" height="50000" fill="#1414dc"/></svg>'
    )
    with closing(open_database(layout.database)) as connection:
        record = ingest(connection, layout, settings, Upload(svg))
    assert (record.width, record.height) == (300, 150)


def test_svg_with_internal_entities_is_accepted(
    store: tuple[sqlite3.Connection, DataLayout], settings: Settings
) -> None:
    """Old Illustrator exports declare namespaces as internal entities."""
    svg = b"""<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY ns_svg "http://www.w3.org/2000/svg"><!ENTITY red "#dc1414">]>
<svg xmlns="&ns_svg;" width="20" height="10"><rect width="20" height="10" fill="&red;"/></svg>"""
    record = add(store, settings, svg)
    _, layout = store
    with Image.open(layout.pyramid_dir(record.id) / "master.jpg") as picture:
        pixel = picture.getpixel((10, 5))
    assert isinstance(pixel, tuple) and close_to(pixel, RED)


@pytest.mark.parametrize("kind", ["heic", "dng", "svg"])
def test_the_server_renders_every_input_format(serve: ServerFactory, kind: str) -> None:
    server = serve(nginx=False)
    settings = load_test_settings(server)
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 2 1">'
        b'<rect width="1" height="1" fill="#dc1414"/><rect x="1" width="1" height="1" '
        b'fill="#1414dc"/></svg>'
    )
    data = {"heic": samples.heic, "dng": samples.dng, "svg": lambda: svg}[kind]()
    with closing(open_database(server.layout.database)) as connection:
        record = ingest(connection, server.layout, settings, Upload(data))
    for url in (f"/img/_/w_120/{record.id}.png", f"/img/_/-/{record.id}.webp"):
        response = server.get(url)
        assert response.status_code == 200, response.text
        with Image.open(io.BytesIO(response.content)) as variant:
            assert_red_left_blue_right(variant)
            if "w_120" in url:
                assert variant.width == 120

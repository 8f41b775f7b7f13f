"""Memory stays bounded on hostile images (issue 11, item 8): very large figures are decoded reduced
where a full-resolution picture is not needed, every decode holds one of a few process-wide slots,
thumbnails are decoded once per size. Peak RSS itself is measured in bench/image_memory_bench.py; these
tests check the behaviour that bounds it, on hostile images generated here and on the real figures
of tests/fixtures/packages.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import api.images as api_images
import harvester.images as images
from harvester.images import REDUCED_SIDE, ImageError, load_image
from store.blobs import LocalBlobStore, S3BlobStore
from support.s3_mirror import moto_endpoint, unique_bucket  # noqa: F401  (moto_endpoint: a fixture)

PACKAGES = Path(__file__).parent / "fixtures" / "packages"
HUGE = 14_142  # 200 megapixels: just under the default FIGMINE_MAX_IMAGE_PIXELS
GRID = 1000  # a dark line every GRID pixels across the huge drawing


@pytest.fixture(scope="module")
def huge_png() -> bytes:
    """A 14,142² RGB drawing (a grid of dark lines on white): about 1 MB of PNG, 600 MB of pixels."""
    import pyvips

    xy = pyvips.Image.xyz(HUGE, HUGE)
    ink = ((xy[0] % GRID) < 12) | ((xy[1] % GRID) < 12)
    grey = ink.ifthenelse(30, 255)
    return grey.bandjoin([grey, grey]).cast("uchar").copy(interpretation="srgb").pngsave_buffer(compression=1)


def _package_figures() -> list[tuple[str, bytes]]:
    out = []
    for package in sorted(PACKAGES.glob("*.tar.gz")):
        with tarfile.open(package) as tar:
            for member in tar.getmembers():
                if member.name.lower().endswith((".jpg", ".gif", ".tif")):
                    out.append((member.name.rsplit("/", 1)[-1], tar.extractfile(member).read()))
    return out


def test_huge_png_is_decoded_reduced_in_original_coordinates(huge_png: bytes) -> None:
    info = load_image(huge_png, max_side=REDUCED_SIDE)
    assert (info.width, info.height, info.format) == (HUGE, HUGE, "PNG")
    assert info.rgb.size == (REDUCED_SIDE, REDUCED_SIDE) and info.rgb.mode == "RGB"
    assert info.scale == pytest.approx(HUGE / REDUCED_SIDE)
    assert info.sha256 == hashlib.sha256(huge_png).hexdigest() and len(info.phash) == 16
    # the drawing is there, where its original coordinates divided by the scale say
    pixels = np.asarray(info.rgb.convert("L"), dtype=np.int32)
    line = round(3 * GRID / info.scale)
    assert pixels[:, line - 1:line + 2].mean() < 200, "the grid line at x=3000 is in the reduced picture"
    assert pixels[:, round(3.5 * GRID / info.scale)].mean() > 240, "between lines the paper is white"


def test_normal_images_decode_in_full_with_the_same_phash() -> None:
    """Reducing is only for images above the full-decode budget: the real figures, as every normal
    figure, keep their full picture and the pHash stored corpora were deduplicated with."""
    figures = _package_figures()
    assert len(figures) >= 20
    for name, data in figures:
        full = load_image(data, max_pixels=10**9)
        wanted = load_image(data, max_pixels=10**9, max_side=256)
        assert wanted.rgb.size == full.rgb.size == (full.width, full.height), name
        assert wanted.phash == full.phash, name


def test_reduced_phash_stays_near_the_full_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the budget the pHash comes from the reduced picture: near-duplicates still match."""
    monkeypatch.setattr(images, "FULL_DECODE_BYTES", 0)  # every real figure counts as too large
    compared = 0
    for name, data in _package_figures():
        full = load_image(data, max_pixels=10**9)
        reduced = load_image(data, max_pixels=10**9, max_side=256)
        if max(full.width, full.height) <= 512:
            continue
        assert max(reduced.rgb.size) < max(full.width, full.height), f"{name} was not reduced"
        assert (reduced.width, reduced.height) == (full.width, full.height), name
        assert reduced.phash_distance(full) <= 4, (name, reduced.phash, full.phash)
        compared += 1
    assert compared >= 10


def test_jpeg_reduced_by_dct_scaling_and_turned_by_exif(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "FULL_DECODE_BYTES", 1_000_000)
    picture = Image.new("RGB", (3000, 2000), "white")
    picture.paste((200, 20, 20), (0, 0, 1500, 2000))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise: portrait, red on top
    data = io.BytesIO()
    picture.save(data, "JPEG", quality=90, exif=exif)
    info = load_image(data.getvalue(), max_side=500)
    assert (info.width, info.height) == (2000, 3000)
    assert info.rgb.size == (500, 750), "1/4 of each side: the largest DCT scale that keeps 500 px"
    top, bottom = info.rgb.getpixel((250, 100)), info.rgb.getpixel((250, 650))
    assert top[0] > 150 and top[1] < 80 and min(bottom) > 230


def test_huge_progressive_jpeg_is_refused_not_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    """libjpeg holds every coefficient of a progressive JPEG whatever the scale: past the budget the
    figure is refused with its reason (a baseline JPEG of the same size is decoded reduced)."""
    monkeypatch.setattr(images, "FULL_DECODE_BYTES", 4_000_000)
    picture = Image.new("RGB", (2400, 1600), (90, 160, 30))
    progressive, baseline = io.BytesIO(), io.BytesIO()
    picture.save(progressive, "JPEG", progressive=True)
    picture.save(baseline, "JPEG")
    with pytest.raises(ImageError, match="progressive JPEG too large"):
        load_image(progressive.getvalue(), max_side=300, name="big.jpg")
    assert max(load_image(baseline.getvalue(), max_side=300).rgb.size) == 300
    # a caller that needs the full picture still gets it
    assert load_image(progressive.getvalue()).rgb.size == (2400, 1600)


def test_truncated_huge_png_is_reported(huge_png: bytes) -> None:
    with pytest.raises(ImageError, match="truncated or corrupt"):
        load_image(huge_png[: len(huge_png) // 2], max_side=REDUCED_SIDE, name="cut.png")


def test_every_decode_holds_a_process_wide_slot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "_SLOTS", threading.BoundedSemaphore(1))
    name, data = _package_figures()[0]
    slots = images.decode_slots()
    slots.acquire()  # the one slot is taken: another decode must wait for it
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(load_image, data, name=name)
        with pytest.raises(TimeoutError):
            pending.result(timeout=0.5)
        slots.release()
        assert pending.result(timeout=30).sha256 == hashlib.sha256(data).hexdigest()


def test_decode_slots_are_sized_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from figmine.settings import get_settings

    monkeypatch.setenv("FIGMINE_IMAGE_DECODE_SLOTS", "3")
    monkeypatch.setattr(images, "_SLOTS", None)
    get_settings.cache_clear()
    try:
        slots = images.decode_slots()
        assert all(slots.acquire(blocking=False) for _ in range(3))
        assert not slots.acquire(blocking=False)
    finally:
        get_settings.cache_clear()


def test_thumbnail_decoded_once_then_served_from_the_blob_store(tmp_path: Path, huge_png: bytes,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    key = blobs.put_bytes(huge_png, "png")
    sha = hashlib.sha256(huge_png).hexdigest()
    decodes: list[int | None] = []
    real_load = api_images.load_image

    def counting_load(*args, **kwargs):
        decodes.append(kwargs.get("max_side"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(api_images, "load_image", counting_load)
    side = api_images.thumbnail_side(300)
    assert side == 320
    cache = api_images.ThumbnailCache()
    with ThreadPoolExecutor(6) as pool:  # six requests at once for the same thumbnail
        answers = list(pool.map(lambda _: api_images.stored_thumbnail(blobs, sha, key, side, cache), range(6)))
    assert decodes == [320], "one decode, reduced to the thumbnail's size"
    assert len(set(answers)) == 1
    thumb = Image.open(io.BytesIO(answers[0]))
    assert thumb.format == "JPEG" and thumb.size == (320, 320)
    stored = api_images.thumbnail_key(sha, key, side)
    assert blobs.open(stored) == answers[0], "kept under the key derived from the figure's sha256 and size"
    # a fresh process (an empty memory cache) serves it from the blob store, without the original
    blobs.path(key).unlink()
    assert api_images.stored_thumbnail(blobs, sha, key, side, api_images.ThumbnailCache()) == answers[0]
    assert decodes == [320]


def test_thumbnails_kept_in_an_s3_blob_store(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """The same with figures on S3 (a moto server on loopback): the thumbnail is an object under its
    derived key, served from there once the memory cache is gone."""
    import boto3

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    bucket = unique_bucket("figmine-blobs")
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=bucket)
    blobs = S3BlobStore(bucket, "figmine", endpoint_url=moto_endpoint)
    name, data = next((n, d) for n, d in _package_figures() if n.endswith(".jpg"))
    key = blobs.put_bytes(data, "jpg")
    sha = hashlib.sha256(data).hexdigest()
    made = api_images.stored_thumbnail(blobs, sha, key, 160, api_images.ThumbnailCache())
    assert max(Image.open(io.BytesIO(made)).size) == 160
    stored = api_images.thumbnail_key(sha, key, 160)
    assert blobs.open(stored) == made
    blobs.client.delete_object(Bucket=bucket, Key=f"figmine/{key}")  # the original is gone
    assert api_images.stored_thumbnail(blobs, sha, key, 160, api_images.ThumbnailCache()) == made


def test_huge_png_figure_ingests_with_its_original_size(figmine_env, tmp_path: Path, huge_png: bytes,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The 612 KB / 14,142² PNG of the review, as a figure of a real OA package: stored with its
    original size, hashes and bytes, and never decoded in full."""
    from figmine.cli import app

    full_decodes: list[tuple[int, int]] = []
    real_decode_full = images._decode_full

    def recording_decode_full(im, label):
        full_decodes.append(im.size)
        return real_decode_full(im, label)

    monkeypatch.setattr(images, "_decode_full", recording_decode_full)

    unpacked = tmp_path / "unpacked"
    with tarfile.open(PACKAGES / "pmc2924383.tar.gz") as tar:
        tar.extractall(unpacked, filter="data")
    first = next(unpacked.rglob("pone.0012255.g001.jpg"))
    first.unlink()
    (first.parent / "pone.0012255.g001.png").write_bytes(huge_png)
    package = tmp_path / "pmc2924383.tar.gz"
    with tarfile.open(package, "w:gz") as tar:
        tar.add(first.parent, arcname=first.parent.name)
    shutil.rmtree(unpacked)

    result = CliRunner().invoke(app, ["ingest", "--no-detect", str(package)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    from store.models import Figure

    engine = create_engine(figmine_env["url"])
    with Session(engine) as session:
        rows = {r.label: r for r in session.execute(
            select(Figure.label, Figure.width, Figure.height, Figure.sha256, Figure.phash, Figure.image_key)
        ).all()}
    engine.dispose()
    huge = rows["Figure 1"]
    assert (huge.width, huge.height) == (HUGE, HUGE)
    assert huge.sha256 == hashlib.sha256(huge_png).hexdigest() and huge.phash
    assert LocalBlobStore(figmine_env["home"] / "blobs").open(huge.image_key) == huge_png, "the original is kept"
    assert sum(1 for r in rows.values() if r.image_key) == 4, "the other figures are stored as before"
    assert len(full_decodes) >= 3 and (HUGE, HUGE) not in full_decodes, full_decodes

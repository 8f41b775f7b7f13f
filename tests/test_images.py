"""load_image: every image kind PMC ships ends as one 8-bit RGB picture; unsafe files are refused."""

from __future__ import annotations

import hashlib
import io
import struct
import tarfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from harvester.images import ImageError, ImageInfo, load_image

PACKAGES = Path(__file__).parent / "fixtures" / "packages"
LIMIT = 50_000_000


def _save(im: Image.Image, path: Path, fmt: str, **kwargs) -> Path:
    im.save(path, fmt, **kwargs)
    return path


def _close(actual: tuple[int, ...], expected: tuple[int, ...], tol: int = 12) -> bool:
    return all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=True))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header that claims width x height pixels, with a few bytes of data: tiny on disk."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def test_rgb_jpeg_basics(tmp_path: Path) -> None:
    im = Image.new("RGB", (120, 80), (200, 30, 30))
    path = _save(im, tmp_path / "red.jpg", "JPEG", quality=95)
    info = load_image(path, max_pixels=LIMIT)
    assert (info.width, info.height, info.format, info.mode) == (120, 80, "JPEG", "RGB")
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert len(info.phash) == 16 and int(info.phash, 16) >= 0
    assert info.rgb.mode == "RGB"
    assert info.byte_size == path.stat().st_size
    # bytes in, same answer
    assert load_image(path.read_bytes(), max_pixels=LIMIT).sha256 == info.sha256


def test_cmyk_adobe_inverted_jpeg_gives_right_colours(tmp_path: Path) -> None:
    # Pillow writes CMYK JPEGs the Photoshop way: inverted, with an Adobe APP14 marker
    im = Image.new("CMYK", (64, 64), (255, 0, 0, 0))  # pure cyan
    im.paste((0, 0, 0, 255), (0, 0, 32, 64))  # left half black
    path = _save(im, tmp_path / "cmyk.jpg", "JPEG", quality=95)
    assert b"Adobe" in path.read_bytes()[:200], "test image lacks the Adobe marker"
    info = load_image(path, max_pixels=LIMIT)
    assert info.mode == "CMYK"
    assert _close(info.rgb.getpixel((48, 32)), (0, 255, 255), tol=20), info.rgb.getpixel((48, 32))
    assert _close(info.rgb.getpixel((8, 32)), (0, 0, 0), tol=20), info.rgb.getpixel((8, 32))


def test_sixteen_bit_greyscale_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (16, 1))
    path = tmp_path / "ramp16.png"
    Image.fromarray(ramp).save(path)  # uint16 → I;16
    info = load_image(path, max_pixels=LIMIT)
    assert info.mode in ("I;16", "I")
    assert info.rgb.getpixel((0, 8)) == (0, 0, 0)
    assert info.rgb.getpixel((255, 8)) == (255, 255, 255)
    mid = info.rgb.getpixel((128, 8))[0]
    assert 120 <= mid <= 136, f"mid-grey should stay mid-grey, got {mid}"


def test_mode_i_with_sixteen_bit_values(tmp_path: Path) -> None:
    arr = np.array([[0, 32768, 65535]], dtype=np.int32).repeat(4, axis=0)
    path = tmp_path / "i32.tif"
    Image.fromarray(arr).save(path)  # int32 → I
    info = load_image(path, max_pixels=LIMIT)
    values = [info.rgb.getpixel((x, 0))[0] for x in range(3)]
    assert values[0] == 0 and 120 <= values[1] <= 136 and values[2] == 255


def test_palette_with_transparency_composited_on_white(tmp_path: Path) -> None:
    im = Image.new("P", (20, 20), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.paste(1, (10, 0, 20, 20))
    path = _save(im, tmp_path / "p.png", "PNG", transparency=0)
    info = load_image(path, max_pixels=LIMIT)
    assert info.mode == "P"
    assert info.rgb.getpixel((2, 2)) == (255, 255, 255)  # transparent → white, not black
    assert info.rgb.getpixel((15, 2)) == (255, 0, 0)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_composited_on_white(tmp_path: Path, mode: str) -> None:
    colour = (255, 0, 0, 128) if mode == "RGBA" else (0, 128)
    im = Image.new(mode, (10, 10), colour)
    im.paste((0, 0, 0, 0) if mode == "RGBA" else (0, 0), (0, 0, 5, 10))
    path = _save(im, tmp_path / f"{mode}.png", "PNG")
    info = load_image(path, max_pixels=LIMIT)
    assert info.mode == mode
    assert info.rgb.getpixel((2, 5)) == (255, 255, 255)
    expected = (255, 127, 127) if mode == "RGBA" else (127, 127, 127)
    assert _close(info.rgb.getpixel((7, 5)), expected, tol=2), info.rgb.getpixel((7, 5))


def test_animated_gif_uses_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (30, 30), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    info = load_image(path, max_pixels=LIMIT)
    assert info.format == "GIF" and info.frames == 3
    assert _close(info.rgb.getpixel((15, 15)), (255, 0, 0), tol=4)


def test_multipage_tiff_uses_first_page(tmp_path: Path) -> None:
    pages = [Image.new("RGB", (40, 20), (0, 0, 255)), Image.new("RGB", (10, 10), (255, 0, 0))]
    path = tmp_path / "pages.tif"
    pages[0].save(path, "TIFF", save_all=True, append_images=pages[1:])
    info = load_image(path, max_pixels=LIMIT)
    assert info.format == "TIFF" and info.frames == 2
    assert (info.width, info.height) == (40, 20)
    assert info.rgb.getpixel((5, 5)) == (0, 0, 255)


def test_exif_orientation_applied(tmp_path: Path) -> None:
    im = Image.new("RGB", (60, 20), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    path = _save(im, tmp_path / "rot.jpg", "JPEG", exif=exif)
    info = load_image(path, max_pixels=LIMIT)
    assert (info.width, info.height) == (20, 60)


def test_truncated_jpeg_is_reported(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    noisy = Image.fromarray(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8))
    full = tmp_path / "full.jpg"
    noisy.save(full, "JPEG", quality=90)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(ImageError, match=r"^truncated image .*cut\.jpg"):
        load_image(cut, max_pixels=LIMIT)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_decompression_bomb_refused_from_header(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_bomb_png(100_000, 100_000))
    assert path.stat().st_size < 200
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError, match="decompression bomb"):
        load_image(path, max_pixels=LIMIT)
    assert Image.MAX_IMAGE_PIXELS == before, "the global limit must be restored"


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_limit_is_the_callers_not_pillows(tmp_path: Path) -> None:
    path = _save(Image.new("RGB", (100, 100)), tmp_path / "small.png", "PNG")
    with pytest.raises(ImageError, match=r"100x100 = 10000 pixels, limit 5000"):
        load_image(path, max_pixels=5_000)
    assert load_image(path, max_pixels=10_000).width == 100


def test_concurrent_calls_with_different_limits(tmp_path: Path) -> None:
    small = _save(Image.new("RGB", (100, 100)), tmp_path / "s.png", "PNG")
    bomb = tmp_path / "b.png"
    bomb.write_bytes(_bomb_png(50_000, 50_000))
    before = Image.MAX_IMAGE_PIXELS

    def one(i: int) -> str:
        try:
            load_image(bomb if i % 2 else small, max_pixels=1_000_000 + i)
            return "ok"
        except ImageError as exc:
            return "bomb" if "bomb" in str(exc) else str(exc)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(64)))
    assert results == ["ok", "bomb"] * 32
    assert Image.MAX_IMAGE_PIXELS == before


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 10])
def test_garbage_is_an_image_error(data: bytes) -> None:
    with pytest.raises(ImageError):
        load_image(data, max_pixels=LIMIT, name="garbage.bin")


def test_missing_file_is_an_image_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="cannot read image .*nope.jpg"):
        load_image(tmp_path / "nope.jpg", max_pixels=LIMIT)


def test_to_bytes_round_trip(tmp_path: Path) -> None:
    path = _save(Image.new("RGBA", (32, 16), (0, 0, 255, 255)), tmp_path / "a.png", "PNG")
    info = load_image(path, max_pixels=LIMIT)
    for fmt, name in (("JPEG", "JPEG"), ("jpg", "JPEG"), ("PNG", "PNG")):
        out = Image.open(io.BytesIO(info.to_bytes(fmt)))
        assert (out.format, out.mode, out.size) == (name, "RGB", (32, 16))
    with pytest.raises(ValueError, match="unsupported output format"):
        info.to_bytes("webp")


def _package_images(tmp_path: Path) -> list[Path]:
    out = tmp_path / "pk"
    for archive in sorted(PACKAGES.glob("*.tar.gz")):
        with tarfile.open(archive) as tar:
            members = [
                m
                for m in tar.getmembers()
                if m.isfile() and (".g0" in m.name or m.name.endswith(("-1.jpg", "-2.jpg", "-1.gif", "-2.gif")))
            ]
            tar.extractall(out, members=members, filter="data")
    return sorted(p for p in out.rglob("*") if p.suffix in (".jpg", ".gif"))


def test_real_package_figures_and_their_thumbnails(tmp_path: Path) -> None:
    paths = _package_images(tmp_path)
    infos: dict[str, ImageInfo] = {p.name: load_image(p, max_pixels=LIMIT) for p in paths}
    jpgs = [n for n in infos if n.endswith(".jpg")]
    assert len(jpgs) >= 10, f"expected the figures of three packages, got {sorted(infos)}"
    compared = 0
    for name in jpgs:
        info = infos[name]
        assert info.format == "JPEG" and info.rgb.mode == "RGB" and info.width > 300, name
        thumb = infos.get(name[:-4] + ".gif")
        if thumb is not None:
            assert thumb.format == "GIF" and thumb.width < info.width
            assert info.sha256 != thumb.sha256
            # the thumbnail is the same picture: perceptual hashes stay close (a 100x31 strip is
            # too small to hash reliably, so only thumbnails of a usable size are compared)
            if min(thumb.width, thumb.height) >= 48:
                assert info.phash_distance(thumb) <= 6, (name, info.phash, thumb.phash)
                compared += 1
    assert compared >= 6
    # a re-encoded copy (a duplicate figure in another article) keeps its phash
    first = paths[0] if paths[0].suffix == ".jpg" else next(p for p in paths if p.suffix == ".jpg")
    copy = io.BytesIO()
    Image.open(first).convert("RGB").save(copy, "JPEG", quality=60)
    again = load_image(copy.getvalue(), max_pixels=LIMIT)
    assert again.phash_distance(infos[first.name]) <= 4

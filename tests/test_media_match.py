"""match_graphic: JATS xlink:href → the bundle file it means."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import pytest

from harvester.media_match import match_graphic

PACKAGES = Path(__file__).parent / "fixtures" / "packages"


def _files(*names: str) -> dict[str, Path]:
    return {name: Path("/bundle") / name for name in names}


def test_exact_name_wins() -> None:
    files = _files("gr1.jpg", "gr1.gif")
    assert match_graphic("gr1.gif", files) == "gr1.gif"
    assert match_graphic("gr1.jpg", files) == "gr1.jpg"


def test_stem_without_extension_prefers_jpg_over_gif_thumbnail() -> None:
    files = _files("pone.0012255.g001.gif", "pone.0012255.g001.jpg", "pone.0012255.g002.gif")
    assert match_graphic("pone.0012255.g001", files) == "pone.0012255.g001.jpg"
    # only the thumbnail exists: better than nothing
    assert match_graphic("pone.0012255.g002", files) == "pone.0012255.g002.gif"


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("f.tiff", "f.tif", "f.gif", "f.png", "f.jpeg", "f.jpg"), "f.jpg"),
        (("f.tiff", "f.tif", "f.gif", "f.png", "f.jpeg"), "f.jpeg"),
        (("f.tiff", "f.tif", "f.gif", "f.png"), "f.png"),
        (("f.tiff", "f.tif", "f.gif"), "f.gif"),
        (("f.tiff", "f.tif"), "f.tif"),
        (("f.eps", "f.tiff"), "f.tiff"),
    ],
)
def test_preference_order(names: tuple[str, ...], expected: str) -> None:
    assert match_graphic("f", _files(*names)) == expected


def test_case_insensitive_and_directories_ignored() -> None:
    files = _files("Fig1.JPG", "other.png")
    assert match_graphic("images/fig1.jpg", files) == "Fig1.JPG"
    assert match_graphic("FIG1", files) == "Fig1.JPG"
    assert match_graphic("a\\b\\FIG1", files) == "Fig1.JPG"


def test_named_extension_missing_falls_back_to_stem() -> None:
    # PMC converts TIFF masters to JPEG; the XML still says .tif
    assert match_graphic("gr2.tif", _files("gr2.jpg", "gr2.gif")) == "gr2.jpg"


def test_dotted_stems_are_not_extensions() -> None:
    files = _files("pcbi.1000960.g001.jpg", "pcbi.1000960.g0010.jpg", "pcbi.1000960.e001.jpg")
    assert match_graphic("pcbi.1000960.g001", files) == "pcbi.1000960.g001.jpg"


def test_no_match() -> None:
    assert match_graphic("gr9", _files("gr1.jpg")) is None
    assert match_graphic("", _files("gr1.jpg")) is None
    assert match_graphic("gr1", {}) is None
    # a stem must match whole, not as a prefix
    assert match_graphic("gr1", _files("gr10.jpg")) is None


def test_every_graphic_of_the_real_packages_finds_its_jpg() -> None:
    """The three 2013 OA packages: hrefs without extension, .jpg + .gif thumbnail for each figure."""
    checked = 0
    for archive in sorted(PACKAGES.glob("*.tar.gz")):
        with tarfile.open(archive) as tar:
            names = [m.name.rsplit("/", 1)[-1] for m in tar.getmembers() if m.isfile()]
            nxml = next(m for m in tar.getmembers() if m.name.endswith(".nxml"))
            xml = tar.extractfile(nxml).read().decode("utf-8")  # type: ignore[union-attr]
        files = _files(*names)
        hrefs = re.findall(r'<graphic[^>]*xlink:href="([^"]+)"', xml)
        assert hrefs, f"{archive.name}: no <graphic> found"
        for href in hrefs:
            key = match_graphic(href, files)
            assert key is not None, f"{archive.name}: {href} matched nothing"
            assert key.endswith(".jpg"), f"{archive.name}: {href} matched {key}, expected the .jpg"
            checked += 1
    assert checked >= 15

"""extract_pdf_figures: numbered figures out of article PDFs (real OA package PDFs and built ones)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pymupdf
import pytest
from PIL import Image

from harvester.images import load_image
from harvester.pdf_figures import MAX_RENDER_PIXELS, PdfError, PdfFigure, extract_pdf_figures, render_zoom

PACKAGES = Path(__file__).parent / "fixtures" / "packages"

# package → (figure number, page) of every figure, read off the PDFs by hand
EXPECTED = {
    "pmc2924383.tar.gz": [("1", 2), ("2", 3), ("3", 3), ("4", 4)],  # PLoS One, two-column page 3
    "pmc2958805.tar.gz": [("1", 4), ("2", 5), ("3", 7), ("4", 9)],  # PLoS Comput Biol
    "pmc3532326.tar.gz": [("1", 3), ("2", 6)],  # BMC Res Notes: "Figure 1 Title" without a period
}


@pytest.fixture(scope="module")
def package_pdfs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("pdfs")
    pdfs: dict[str, Path] = {}
    for name in EXPECTED:
        with tarfile.open(PACKAGES / name) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith(".pdf"))
            target = out / f"{name}.pdf"
            target.write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
            pdfs[name] = target
    return pdfs


@pytest.mark.parametrize("package", sorted(EXPECTED))
def test_real_article_pdfs(package: str, package_pdfs: dict[str, Path]) -> None:
    figures = extract_pdf_figures(package_pdfs[package])
    assert [(f.number, f.page) for f in figures] == EXPECTED[package]
    for fig in figures:
        assert fig.label == f"Figure {fig.number}"
        assert fig.caption.startswith(f"Figure {fig.number}")
        assert fig.method == "embedded", f"{package} {fig.label}: a single raster should be taken as is"
        info = load_image(fig.image_bytes, max_pixels=100_000_000, name=fig.label)
        assert (info.width, info.height) == (fig.width, fig.height)
        assert fig.width > 500 and fig.height > 300
        x0, y0, x1, y1 = fig.bbox
        assert 0 <= x0 < x1 <= 612 and 0 <= y0 < y1 <= 792


def test_body_text_and_supplementary_list_are_not_figures(package_pdfs: dict[str, Path]) -> None:
    # pcbi page 4 has a paragraph starting "Figure 2 illustrates ..." and page 9 "Figure 4). ...";
    # pone page 5 lists "Figure S1 Eye movement ..." with no picture: none of them yields a figure.
    pcbi = extract_pdf_figures(package_pdfs["pmc2958805.tar.gz"])
    assert {f.number: f.page for f in pcbi}["2"] == 5
    pone = extract_pdf_figures(package_pdfs["pmc2924383.tar.gz"])
    assert "S1" not in {f.number for f in pone}


def test_pdf_as_bytes(package_pdfs: dict[str, Path]) -> None:
    figures = extract_pdf_figures(package_pdfs["pmc3532326.tar.gz"].read_bytes())
    assert [f.label for f in figures] == ["Figure 1", "Figure 2"]


def _png(colour: tuple[int, int, int], size: tuple[int, int] = (200, 150)) -> bytes:
    out = io.BytesIO()
    im = Image.new("RGB", size, colour)
    im.paste((255, 255, 255), (20, 20, 60, 60))
    im.save(out, "PNG")
    return out.getvalue()


def _built_pdf() -> bytes:
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    page.insert_text((72, 50), "Results of the experiment are shown below in two figures.", fontsize=10)
    page.insert_image(pymupdf.Rect(72, 72, 372, 297), stream=_png((200, 30, 30)))
    page.insert_text((72, 315), "Figure 1. A raster figure with its caption below.", fontsize=9)
    # a paragraph that only mentions a figure: no picture next to it
    page.insert_text((72, 360), "Figure 2 shows what happens when nothing is drawn.", fontsize=10)
    # a vector figure: axes and bars, with a caption under it
    shape = page.new_shape()
    shape.draw_line((100, 420), (100, 600))
    shape.draw_line((100, 600), (400, 600))
    for i, height in enumerate((60, 120, 90, 150)):
        shape.draw_rect(pymupdf.Rect(130 + i * 60, 600 - height, 170 + i * 60, 600))
    shape.finish(color=(0, 0, 0), fill=(0.2, 0.4, 0.8))
    shape.commit()
    page.insert_text((80, 612), "0", fontsize=8)
    page.insert_text((72, 640), "Figure 3: Bars drawn as vector graphics.", fontsize=9)

    page2 = doc.new_page(width=612, height=792)
    page2.insert_text((72, 80), "Fig. 4. Caption set above its figure.", fontsize=9)
    page2.insert_image(pymupdf.Rect(72, 95, 372, 320), stream=_png((30, 160, 30)))
    page2.insert_text((72, 700), "Figure S1 Supplementary data, available online.", fontsize=9)
    return doc.tobytes()


def test_built_pdf_raster_vector_and_caption_above() -> None:
    figures = extract_pdf_figures(_built_pdf())
    by_number = {f.number: f for f in figures}
    assert sorted(by_number) == ["1", "3", "4"], [f.caption for f in figures]

    one = by_number["1"]
    assert (one.label, one.page, one.method, one.image_ext) == ("Figure 1", 1, "embedded", "png")
    assert (one.width, one.height) == (200, 150)
    assert Image.open(io.BytesIO(one.image_bytes)).getpixel((100, 100))[:3] == (200, 30, 30)
    assert one.bbox == pytest.approx((72, 72, 372, 297), abs=1)

    three = by_number["3"]
    assert three.method == "render" and three.image_ext == "png"
    x0, y0, x1, y1 = three.bbox
    assert x0 <= 100 and y0 <= 460 and x1 >= 400 and 600 <= y1 < 630, three.bbox  # bars + axis label
    assert three.width == pytest.approx((x1 - x0) * 150 / 72, abs=2)  # rendered at 150 dpi
    rendered = Image.open(io.BytesIO(three.image_bytes)).convert("RGB")
    assert rendered.size == (three.width, three.height)

    four = by_number["4"]
    assert (four.page, four.label) == (2, "Figure 4")
    assert Image.open(io.BytesIO(four.image_bytes)).getpixel((100, 100))[:3] == (30, 160, 30)


def _big_page_pdf(side_pt: float) -> bytes:
    """A ~1 KB PDF whose one page is `side_pt` points square: a bar chart over it, a caption under it."""
    doc = pymupdf.open()
    page = doc.new_page(width=side_pt, height=side_pt)
    shape = page.new_shape()
    for x in range(100, int(side_pt) - 300, 500):
        shape.draw_rect(pymupdf.Rect(x, 400 + x / 2, x + 240, side_pt - 200))
    shape.draw_line((50, side_pt - 190), (side_pt - 50, side_pt - 190))
    shape.finish(color=(0, 0, 0), fill=(0.2, 0.4, 0.8), width=2)
    shape.commit()
    page.insert_text((60, side_pt - 120), "Figure 1. A chart drawn over the whole page.", fontsize=24)
    return doc.tobytes(garbage=4, deflate=True)


def test_big_page_is_rendered_within_the_pixel_limit() -> None:
    """The review's 1 KB PDF: at 150 dpi its figure would be 234 megapixels (1.6 GB rendering). The
    size is computed from the region and the zoom first, and the zoom lowered to fit the limit."""
    data = _big_page_pdf(7340)
    assert len(data) < 4000
    zoom = render_zoom(pymupdf.Rect(0, 0, 7340, 7340), 150, MAX_RENDER_PIXELS)
    assert MAX_RENDER_PIXELS * 0.999 <= (7340 * zoom + 2) ** 2 <= MAX_RENDER_PIXELS
    [figure] = extract_pdf_figures(data, max_pixels=3_000_000)
    assert figure.method == "render" and figure.label == "Figure 1"
    assert 2_900_000 <= figure.width * figure.height <= 3_000_000, (figure.width, figure.height)
    x0, y0, x1, y1 = figure.bbox
    assert x1 - x0 > 6000, "the chart spans the page"
    assert figure.width / figure.height == pytest.approx((x1 - x0) / (y1 - y0), rel=0.01)
    picture = Image.open(io.BytesIO(figure.image_bytes)).convert("RGB")
    assert picture.size == (figure.width, figure.height)
    assert (51, 102, 204) in {c for _, c in picture.getcolors(1 << 20)}, "the bars are drawn"


def test_huge_embedded_image_is_rendered_not_extracted() -> None:
    """Extracting an embedded image re-encodes it from all its pixels: past the limit the region is
    rendered (bounded) instead."""
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    page.insert_image(pymupdf.Rect(72, 72, 540, 540), stream=_png((200, 30, 30), size=(3000, 3000)))
    page.insert_text((72, 560), "Figure 1. A raster figure stored at 9 megapixels.", fontsize=9)
    data = doc.tobytes()
    [small] = extract_pdf_figures(data, max_pixels=1_000_000)
    assert small.method == "render" and small.width * small.height <= 1_000_000
    [full] = extract_pdf_figures(data)
    assert (full.method, full.width, full.height) == ("embedded", 3000, 3000), "under the limit: the PDF's own image"


def test_pdf_without_figures() -> None:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "Just text. Figure legends are elsewhere.")
    assert extract_pdf_figures(doc.tobytes()) == []


@pytest.mark.parametrize("data", [b"", b"%PDF-1.4 this is not really a pdf", b"\x89PNG\r\n\x1a\n"])
def test_bad_pdf_raises_pdf_error(data: bytes) -> None:
    with pytest.raises(PdfError, match="PDF"):
        extract_pdf_figures(data)


def test_missing_and_encrypted_pdf(tmp_path: Path) -> None:
    with pytest.raises(PdfError, match="not found"):
        extract_pdf_figures(tmp_path / "missing.pdf")
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "Figure 1. secret")
    path = tmp_path / "locked.pdf"
    doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="secret", owner_pw="owner")
    with pytest.raises(PdfError, match="encrypted"):
        extract_pdf_figures(path)


def test_result_type() -> None:
    figures = extract_pdf_figures(_built_pdf())
    assert all(isinstance(f, PdfFigure) for f in figures)

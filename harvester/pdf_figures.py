"""Figures from an article PDF, for articles whose package or bucket folder has no figure images.

For each page, caption blocks ("Figure 3.", "Fig. 2:", "FIGURE 1", "Figure S1") are paired with the
embedded raster image(s) nearest to them in the same column: above first (journals put captions
under figures), below as a fallback. A caption with no raster image near it gets the vector drawing
cluster above it rendered (`page.get_pixmap(clip=..., dpi=150)`). The pipeline matches the results to
the JATS figures by label and stores them with `source=pdf`.

Memory: a 1 KB PDF may declare a 7,000-point page (234 megapixels at 150 dpi). The size of a render
is computed from the region and the zoom before rendering, and the zoom lowered to keep it within
`max_pixels`; an embedded image larger than that is rendered (bounded) instead of extracted, since
extracting re-encodes it from its full pixels.

Body text that merely starts with "Figure 2 shows ..." is told apart from a caption by what follows
the number (".", ":", "|") or by the label's font (bold, or a face different from the body text);
such weak candidates are used only for numbers no real caption was found for, and only when an image
sits right next to them.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pymupdf

log = logging.getLogger(__name__)

CAPTION_RE = re.compile(
    r"^\s*(?P<word>Figure|Fig\.?|FIGURE|FIG\.?)\s*(?P<number>S?\d{1,3})(?!\d)"
    r"(?P<after>\s*[.:|]|\s*[\u2013\u2014-]\s|\s|$)"  # "." ":" "|" or a dash mark a caption; a space alone may not
)
_BOLD_FONT_RE = re.compile(r"bold|black|heavy|semibold|demi|[.\-,]B$|\.B\b", re.IGNORECASE)

MIN_FIGURE_PT = 40.0  # smaller boxes are logos, icons, inline formulas
MIN_AREA_FRACTION = 0.015
MAX_AREA_FRACTION = 0.85  # a raster covering the page is a scan or a background, not a figure
MAX_GAP_FRACTION = 0.4  # caption to figure, as a fraction of the page height
BELOW_GAP_PT = 72.0  # captions above their figure sit close to it
WEAK_GAP_PT = 30.0
GROUP_GAP_PT = 14.0  # raster panels of one figure placed next to each other
LABEL_MARGIN_PT = 24.0  # axis labels and panel letters around a vector drawing
# Largest picture made from a PDF: 16 megapixels is a full A2 page at 150 dpi (48 MB as RGB).
MAX_RENDER_PIXELS = 16_000_000


class PdfError(Exception):
    """The PDF cannot be opened or read (not a PDF, damaged, encrypted)."""


@dataclass
class PdfFigure:
    label: str  # "Figure 1", "Figure S2"
    number: str  # "1", "S2"
    page: int  # 1-based page number
    bbox: tuple[float, float, float, float]  # x0, y0, x1, y1 on the page, in points
    image_bytes: bytes
    width: int  # pixels
    height: int
    image_ext: str = "png"  # "jpg" or "png": how image_bytes is encoded
    method: str = "embedded"  # embedded (the PDF's own image bytes) | render (page region rendered)
    caption: str = ""  # the caption block's text, whitespace normalised


@dataclass
class _Caption:
    number: str
    rect: pymupdf.Rect
    text: str
    strong: bool


@dataclass
class _Raster:
    xref: int
    rect: pymupdf.Rect
    transform: tuple[float, ...]
    has_mask: bool
    pixels: int = 0  # of the image itself (width × height as stored in the PDF)


@dataclass
class _PageState:
    index: int
    page: pymupdf.Page
    captions: list[_Caption]
    rasters: list[_Raster]
    text_blocks: list[tuple[pymupdf.Rect, str]]
    used: set[int] = field(default_factory=set)  # indices into rasters already given to a caption
    _clusters: list[pymupdf.Rect] | None = None

    def clusters(self) -> list[pymupdf.Rect]:
        if self._clusters is None:
            try:
                self._clusters = [pymupdf.Rect(r) for r in self.page.cluster_drawings()]
            except Exception as exc:  # noqa: BLE001 - a drawing we cannot parse only loses the fallback
                log.debug("page %d: no drawing clusters: %s", self.index + 1, exc)
                self._clusters = []
        return self._clusters


def _norm_space(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _h_overlap(a: pymupdf.Rect, b: pymupdf.Rect) -> float:
    """Horizontal overlap as a fraction of the narrower box."""
    inter = min(a.x1, b.x1) - max(a.x0, b.x0)
    narrow = min(a.width, b.width) or 1.0
    return max(inter, 0.0) / narrow


def _read_page(page: pymupdf.Page, index: int) -> _PageState:
    page_rect = page.rect
    page_area = page_rect.get_area() or 1.0
    blocks = page.get_text("dict").get("blocks", [])
    fonts: Counter[str] = Counter()
    text_blocks: list[tuple[pymupdf.Rect, str]] = []
    parsed: list[tuple[pymupdf.Rect, str, list[dict]]] = []
    for block in blocks:
        if block.get("type") != 0:
            continue
        spans = [s for line in block.get("lines", []) for s in line.get("spans", [])]
        text = _norm_space(" ".join(s.get("text", "") for s in spans))
        if not text:
            continue
        for s in spans:
            fonts[s.get("font", "")] += len(s.get("text", "").strip())
        rect = pymupdf.Rect(block["bbox"])
        text_blocks.append((rect, text))
        parsed.append((rect, text, spans))
    body_font = fonts.most_common(1)[0][0] if fonts else ""

    captions: list[_Caption] = []
    for rect, text, spans in parsed:
        m = CAPTION_RE.match(text)
        if not m:
            continue
        first = next((s for s in spans if s.get("text", "").strip()), {})
        font = first.get("font", "")
        strong = (
            bool(m.group("after").strip())
            or bool(first.get("flags", 0) & 16)
            or bool(_BOLD_FONT_RE.search(font))
            or (bool(font) and font != body_font)
        )
        captions.append(_Caption(number=m.group("number"), rect=rect, text=text, strong=strong))

    rasters: list[_Raster] = []
    seen: set[tuple[int, int, int, int]] = set()
    for info in page.get_image_info(xrefs=True):
        rect = pymupdf.Rect(info["bbox"]) & page_rect
        if rect.is_empty or rect.width < MIN_FIGURE_PT or rect.height < MIN_FIGURE_PT:
            continue
        fraction = rect.get_area() / page_area
        if fraction < MIN_AREA_FRACTION or fraction > MAX_AREA_FRACTION:
            continue
        key = (round(rect.x0), round(rect.y0), round(rect.x1), round(rect.y1))
        if key in seen:
            continue
        seen.add(key)
        rasters.append(
            _Raster(
                xref=int(info.get("xref") or 0),
                rect=rect,
                transform=tuple(info.get("transform") or ()),
                has_mask=bool(info.get("has-mask")),
                pixels=int(info.get("width") or 0) * int(info.get("height") or 0),
            )
        )
    return _PageState(index=index, page=page, captions=captions, rasters=rasters, text_blocks=text_blocks)


def _caption_between(state: _PageState, cap: _Caption, top: float, bottom: float, box: pymupdf.Rect) -> bool:
    """Another caption lies between a candidate figure and this caption: the figure is not ours."""
    for other in state.captions:
        if other is cap or not other.strong:
            continue
        if top - 1 <= other.rect.y0 and other.rect.y1 <= bottom + 1 and _h_overlap(other.rect, box) > 0.3:
            return True
    return False


def _nearest(
    state: _PageState, cap: _Caption, boxes: list[pymupdf.Rect], taken: set[int], max_above: float, max_below: float
) -> tuple[int, float] | None:
    best: tuple[int, float] | None = None
    for i, box in enumerate(boxes):
        if i in taken or _h_overlap(box, cap.rect) < 0.3:
            continue
        if box.y1 <= cap.rect.y0 + 5:  # above the caption
            gap = max(cap.rect.y0 - box.y1, 0.0)
            if gap > max_above or _caption_between(state, cap, box.y1, cap.rect.y0, box):
                continue
            score = gap
        elif box.y0 >= cap.rect.y1 - 5:  # below: allowed, but only close and ranked after "above"
            gap = max(box.y0 - cap.rect.y1, 0.0)
            if gap > max_below or _caption_between(state, cap, cap.rect.y1, box.y0, box):
                continue
            score = gap + 1000.0
        else:
            continue
        if best is None or score < best[1]:
            best = (i, score)
    return best


def _grow(anchor: int, boxes: list[pymupdf.Rect], taken: set[int], cap: _Caption) -> list[int]:
    """Add boxes touching the group (panels of one figure) that lie on the same side of the caption."""
    group = [anchor]
    union = pymupdf.Rect(boxes[anchor])
    above = union.y1 <= cap.rect.y0 + 5
    changed = True
    while changed:
        changed = False
        for i, box in enumerate(boxes):
            if i in taken or i in group:
                continue
            if (box.y1 <= cap.rect.y0 + 5) != above:
                continue
            near = union + (-GROUP_GAP_PT, -GROUP_GAP_PT, GROUP_GAP_PT, GROUP_GAP_PT)
            if near.intersects(box):
                group.append(i)
                union |= box
                changed = True
    return group


def _has_overlay_text(state: _PageState, rect: pymupdf.Rect) -> bool:
    """Text drawn over a raster (panel letters, labels) is lost when only the raster is extracted."""
    for block_rect, _text in state.text_blocks:
        if (block_rect & rect).get_area() > 0.5 * (block_rect.get_area() or 1.0):
            return True
    return False


def render_zoom(rect: pymupdf.Rect, dpi: int, max_pixels: int) -> float:
    """The zoom (pixels per point) that renders `rect` at `dpi`, lowered so that the pixmap holds at
    most `max_pixels`: computed before rendering, the render never allocates more."""
    zoom = dpi / 72.0
    w, h = rect.width, rect.height
    if (w * zoom + 2) * (h * zoom + 2) > max_pixels:  # MuPDF rounds each edge outwards: < +2 a side
        # the largest zoom with (w·z + 2)(h·z + 2) ≤ max_pixels
        zoom = (math.sqrt((w + h) ** 2 + w * h * (max_pixels - 4)) - (w + h)) / (w * h)
    return zoom


def _render(page: pymupdf.Page, rect: pymupdf.Rect, dpi: int, max_pixels: int) -> tuple[bytes, int, int]:
    clip = rect & page.rect
    zoom = render_zoom(clip, dpi, max_pixels)
    if zoom < dpi / 72.0:
        log.info("page %d: region %s rendered at %.0f dpi, not %d (limit %d pixels)",
                 page.number + 1, clip, zoom * 72, dpi, max_pixels)
    pix = page.get_pixmap(clip=clip, matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
    if pix.n - pix.alpha != 3:
        pix = pymupdf.Pixmap(pymupdf.csRGB, pix)
    return pix.tobytes("png"), pix.width, pix.height


def _embedded(doc: pymupdf.Document, raster: _Raster, max_pixels: int) -> tuple[bytes, int, int, str] | None:
    """The PDF's own image bytes when they show exactly what the page shows; None → render instead."""
    t = raster.transform
    if raster.pixels > max_pixels:
        return None
    if raster.has_mask or raster.xref <= 0 or len(t) != 6 or abs(t[1]) > 1e-6 or abs(t[2]) > 1e-6:
        return None
    if t[0] <= 0 or t[3] <= 0:  # flipped
        return None
    try:
        info = doc.extract_image(raster.xref)
    except Exception:  # noqa: BLE001
        return None
    if not info or info.get("smask") or info.get("colorspace") not in (1, 3):
        return None
    ext = str(info.get("ext", "")).lower()
    if ext not in ("jpeg", "jpg", "png"):
        return None
    return info["image"], int(info["width"]), int(info["height"]), "jpg" if ext in ("jpeg", "jpg") else "png"


def _vector_region(state: _PageState, cap: _Caption) -> pymupdf.Rect | None:
    clusters = [
        c
        for c in state.clusters()
        if c.width >= MIN_FIGURE_PT and c.height >= MIN_FIGURE_PT and not (c & cap.rect).get_area() > 0
    ]
    max_gap = state.page.rect.height * MAX_GAP_FRACTION
    hit = _nearest(state, cap, clusters, set(), max_gap, BELOW_GAP_PT)
    if hit is None:
        return None
    members = _grow(hit[0], clusters, set(), cap)
    region = pymupdf.Rect(clusters[members[0]])
    for i in members[1:]:
        region |= clusters[i]
    # take in labels around the drawing (tick labels, panel letters), never the caption or body text
    around = region + (-LABEL_MARGIN_PT, -LABEL_MARGIN_PT, LABEL_MARGIN_PT, LABEL_MARGIN_PT)
    for block_rect, text in state.text_blocks:
        if block_rect == cap.rect or len(text) > 120 or CAPTION_RE.match(text):
            continue
        if around.contains(block_rect):
            region |= block_rect
    region &= state.page.rect
    if region.is_empty or region.width < MIN_FIGURE_PT or region.height < MIN_FIGURE_PT:
        return None
    return region


def _figure_for(
    doc: pymupdf.Document,
    state: _PageState,
    cap: _Caption,
    dpi: int,
    *,
    max_pixels: int,
    max_above: float,
    max_below: float,
    vector: bool,
) -> PdfFigure | None:
    boxes = [r.rect for r in state.rasters]
    hit = _nearest(state, cap, boxes, state.used, max_above, max_below)

    def figure(region: pymupdf.Rect, data: bytes, width: int, height: int, ext: str, method: str) -> PdfFigure:
        return PdfFigure(
            label=f"Figure {cap.number}",
            number=cap.number,
            page=state.index + 1,
            bbox=(region.x0, region.y0, region.x1, region.y1),
            image_bytes=data,
            width=width,
            height=height,
            image_ext=ext,
            method=method,
            caption=cap.text[:1000],
        )

    if hit is not None:
        group = _grow(hit[0], boxes, state.used, cap)
        state.used.update(group)
        region = pymupdf.Rect(boxes[group[0]])
        for i in group[1:]:
            region |= boxes[i]
        embedded = None
        if len(group) == 1 and not _has_overlay_text(state, region):
            embedded = _embedded(doc, state.rasters[group[0]], max_pixels)
        if embedded is not None:
            data, width, height, ext = embedded
            return figure(region, data, width, height, ext, "embedded")
        return figure(region, *_render(state.page, region, dpi, max_pixels), "png", "render")
    if not vector:
        return None
    region = _vector_region(state, cap)
    if region is None:
        return None
    return figure(region, *_render(state.page, region, dpi, max_pixels), "png", "render")


def _open(pdf: Path | str | bytes) -> pymupdf.Document:
    label = "<bytes>" if isinstance(pdf, (bytes, bytearray)) else str(pdf)
    try:
        if isinstance(pdf, (bytes, bytearray)):
            doc = pymupdf.open(stream=bytes(pdf), filetype="pdf")
        else:
            path = Path(pdf)
            if not path.is_file():
                raise PdfError(f"PDF not found: {path}")
            doc = pymupdf.open(path, filetype="pdf")
    except PdfError:
        raise
    except Exception as exc:  # noqa: BLE001 - MuPDF raises several unrelated types for damaged files
        raise PdfError(f"cannot open PDF {label}: {exc}") from exc
    if not doc.is_pdf:  # MuPDF sniffs content and happily opens images, EPUB, XPS ...
        doc.close()
        raise PdfError(f"not a PDF: {label}")
    if doc.needs_pass:
        doc.close()
        raise PdfError(f"PDF is encrypted: {label}")
    if doc.page_count == 0:
        doc.close()
        raise PdfError(f"PDF has no pages: {label}")
    return doc


def extract_pdf_figures(pdf: Path | str | bytes, *, dpi: int = 150, max_pages: int | None = 200,
                        max_pixels: int = MAX_RENDER_PIXELS) -> list[PdfFigure]:
    """Find numbered figures in a PDF; one PdfFigure per figure number, in page order. No picture made
    from it holds more than `max_pixels` (renders are made at a lower dpi where needed).

    Raises PdfError when the file cannot be opened; a page that cannot be read is skipped (logged).
    """
    doc = _open(pdf)
    label = "<bytes>" if isinstance(pdf, (bytes, bytearray)) else str(pdf)
    try:
        states: list[_PageState] = []
        for index in range(doc.page_count if max_pages is None else min(doc.page_count, max_pages)):
            try:
                states.append(_read_page(doc[index], index))
            except Exception as exc:  # noqa: BLE001
                log.warning("skipping unreadable page %d of %s: %s", index + 1, label, exc)
        if not states:
            raise PdfError(f"no readable page in PDF {label}")
        found: dict[str, PdfFigure] = {}
        for strong in (True, False):
            for state in states:
                max_above = state.page.rect.height * MAX_GAP_FRACTION
                for cap in sorted(state.captions, key=lambda c: (c.rect.y0, c.rect.x0)):
                    if cap.strong != strong or cap.number in found:
                        continue
                    # body text that starts with "Figure 2 ..." only counts with a raster right next to it
                    limits = (max_above, BELOW_GAP_PT) if strong else (WEAK_GAP_PT, WEAK_GAP_PT)
                    try:
                        fig = _figure_for(
                            doc, state, cap, dpi, max_pixels=max_pixels, max_above=limits[0], max_below=limits[1],
                            vector=strong,
                        )
                    except Exception as exc:  # noqa: BLE001 - one bad figure must not lose the others
                        log.warning("page %d, %s: %s", state.index + 1, cap.text[:40], exc)
                        continue
                    if fig is not None:
                        found[cap.number] = fig
        return sorted(found.values(), key=lambda f: (f.page, f.bbox[1], f.bbox[0]))
    finally:
        doc.close()

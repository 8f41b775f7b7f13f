"""Things drawn on or around panels that are not panels: scale bars, arrows, annotation words and
insets inside a picture (they belong to its panel), and frames, separator lines, shared headers,
shared legends and caption text outside all panels (the gold convention excludes them)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from subfigure_detector.synth.charts import GENES, WORDS
from subfigure_detector.synth.label_styles import load_font

Rect = tuple[int, int, int, int]

STAIN_WORDS = ["DAPI", "Merge", "GFP", "RFP", "Phalloidin", "Ki67", "CD31", "H&E", "20×", "40×", "100×", "WT",
               "KO", "Control", "Day 3", "0 h", "24 h", "Sham", "Vehicle", "Bright field", "Overlay", "Zoom"]
CAPTION_WORDS = ("expression of the indicated proteins was analysed by western blot and quantified in cells "
                 "treated with vehicle or drug for the times shown data are mean SD of three independent "
                 "experiments representative images scale bar µm significant differences were assessed").split()


def _contrast(region: np.ndarray) -> tuple[int, int, int]:
    """Black or white, whichever stands out on `region`."""
    return (255, 255, 255) if region.size == 0 or region.mean() < 110 else (0, 0, 0)


def scale_bar(rng: np.random.Generator, canvas: Image.Image, rect: Rect, text_px: float) -> None:
    x1, y1, x2, y2 = rect
    w, h = x2 - x1, y2 - y1
    length = int(w * rng.uniform(0.12, 0.3))
    thick = max(2, int(h * rng.uniform(0.008, 0.02)))
    bx = x2 - length - int(w * rng.uniform(0.03, 0.08))
    by = y2 - thick - int(h * rng.uniform(0.03, 0.08))
    if length < 6 or bx <= x1 or by <= y1:
        return
    a = np.asarray(canvas.crop((bx, by - 10, bx + length, by + thick)))
    col = _contrast(a)
    d = ImageDraw.Draw(canvas)
    d.rectangle((bx, by, bx + length - 1, by + thick - 1), fill=col)
    if rng.random() < 0.4 and text_px >= 6:
        f = load_font("DejaVuSans.ttf", max(6, int(text_px)))
        t = f"{int(rng.choice([1, 2, 5, 10, 20, 50, 100, 200]))} µm"
        tb = d.textbbox((0, 0), t, font=f)
        tx, ty = bx + (length - (tb[2] - tb[0])) // 2, by - (tb[3] - tb[1]) - 4
        if tx > x1 and ty > y1:
            d.text((tx - tb[0], ty - tb[1]), t, font=f, fill=col)


def arrows(rng: np.random.Generator, canvas: Image.Image, rect: Rect) -> None:
    x1, y1, x2, y2 = rect
    d = ImageDraw.Draw(canvas)
    col = [(255, 255, 255), (255, 255, 0), (255, 0, 0), (0, 0, 0), (0, 255, 0)][int(rng.integers(5))]
    for _ in range(int(rng.integers(1, 4))):
        L = min(x2 - x1, y2 - y1) * rng.uniform(0.06, 0.15)
        if L < 6:
            return
        hx, hy = rng.uniform(x1 + L, x2 - L), rng.uniform(y1 + L, y2 - L)
        ang = rng.uniform(0, 2 * np.pi)
        tx, ty = hx + L * np.cos(ang), hy + L * np.sin(ang)
        d.line((tx, ty, hx, hy), fill=col, width=max(1, int(L / 10)))
        s = L * 0.4
        left = (hx + s * np.cos(ang + 0.45), hy + s * np.sin(ang + 0.45))
        right = (hx + s * np.cos(ang - 0.45), hy + s * np.sin(ang - 0.45))
        d.polygon([(hx, hy), left, right], fill=col)


def annotation_word(rng: np.random.Generator, canvas: Image.Image, rect: Rect, text_px: float, corner: str) -> None:
    """A stain/condition word inside a picture (not a panel label, but often confused with one)."""
    x1, y1, x2, y2 = rect
    f = load_font(["DejaVuSans.ttf", "DejaVuSans-Bold.ttf"][int(rng.integers(2))], max(6, int(text_px)))
    t = STAIN_WORDS[int(rng.integers(len(STAIN_WORDS)))]
    d = ImageDraw.Draw(canvas)
    tb = d.textbbox((0, 0), t, font=f)
    tw, th = tb[2] - tb[0], tb[3] - tb[1]
    m = max(2, int(0.03 * (x2 - x1)))
    if tw + 2 * m > x2 - x1 or th + 2 * m > y2 - y1:
        return
    tx = x2 - tw - m if corner.endswith("r") else x1 + m
    ty = y2 - th - m if corner.startswith("b") else y1 + m
    col = [(255, 255, 255), (0, 255, 0), (255, 60, 60), (80, 160, 255), (0, 0, 0)][int(rng.integers(5))]
    d.text((tx - tb[0], ty - tb[1]), t, font=f, fill=col)


def inset(rng: np.random.Generator, canvas: Image.Image, rect: Rect, picture: Image.Image, corner: str) -> None:
    x1, y1, x2, y2 = rect
    w, h = int((x2 - x1) * rng.uniform(0.22, 0.35)), int((y2 - y1) * rng.uniform(0.22, 0.35))
    if w < 12 or h < 12:
        return
    small = picture.resize((w, h), Image.BILINEAR)
    px = x2 - w - 2 if corner.endswith("r") else x1 + 2
    py = y2 - h - 2 if corner.startswith("b") else y1 + 2
    ImageDraw.Draw(canvas).rectangle((px - 1, py - 1, px + w, py + h), outline=(255, 255, 255))
    canvas.paste(small, (px, py))


def _free(rect: Rect, boxes: list[Rect], canvas: Image.Image) -> bool:
    if rect[0] < 0 or rect[1] < 0 or rect[2] > canvas.width or rect[3] > canvas.height:
        return False
    return all(rect[2] <= b[0] or rect[0] >= b[2] or rect[3] <= b[1] or rect[1] >= b[3] for b in boxes)


def frames(rng: np.random.Generator, canvas: Image.Image, boxes: list[Rect], colour: tuple[int, int, int]) -> None:
    """Thin frames just outside panel boxes where they touch nothing else."""
    d = ImageDraw.Draw(canvas)
    e = int(rng.integers(1, 4))
    for i, b in enumerate(boxes):
        r = (b[0] - e - 1, b[1] - e - 1, b[2] + e + 1, b[3] + e + 1)
        if _free(r, boxes[:i] + boxes[i + 1 :], canvas):
            d.rectangle((r[0], r[1], r[2] - 1, r[3] - 1), outline=colour)


def separators(canvas: Image.Image, boxes: list[Rect], rows: list[list[int]], colour: tuple[int, int, int]) -> None:
    """Vertical lines in the gutters between neighbours of a row, and horizontal ones between rows."""
    d = ImageDraw.Draw(canvas)
    for members in rows:
        for a, b in zip(members, members[1:]):
            A, B = boxes[a], boxes[b]
            if B[0] - A[2] >= 5:
                x = (A[2] + B[0]) // 2
                r = (x, min(A[1], B[1]), x + 1, max(A[3], B[3]))
                if _free(r, boxes, canvas):
                    d.line((x, r[1], x, r[3] - 1), fill=colour)
    for top, bottom in zip(rows, rows[1:]):
        y_top = max(boxes[i][3] for i in top)
        y_bot = min(boxes[i][1] for i in bottom)
        if y_bot - y_top >= 5:
            y = (y_top + y_bot) // 2
            r = (0, y, canvas.width, y + 1)
            if _free(r, boxes, canvas):
                d.line((0, y, canvas.width - 1, y), fill=colour)


def text_line(rng: np.random.Generator, canvas: Image.Image, xy: tuple[int, int], px: float, words: list[str],
              colour: tuple[int, int, int], max_width: int) -> None:
    f = load_font(["DejaVuSans.ttf", "DejaVuSerif.ttf", "STIXGeneral.ttf"][int(rng.integers(3))], max(6, int(px)))
    d = ImageDraw.Draw(canvas)
    text = " ".join(words)
    while text and d.textlength(text, font=f) > max_width:
        text = text.rsplit(" ", 1)[0] if " " in text else ""
    if text:
        d.text(xy, text, font=f, fill=colour)


def header_words(rng: np.random.Generator, n: int) -> list[str]:
    pool = WORDS + STAIN_WORDS
    return [pool[int(i)] for i in rng.integers(len(pool), size=n)]


def caption_words(rng: np.random.Generator, n: int, figure_no: int | None = None) -> list[str]:
    words = [CAPTION_WORDS[int(i)] for i in rng.integers(len(CAPTION_WORDS), size=n)]
    return ([f"Figure {figure_no}."] if figure_no else []) + words


def shared_legend(rng: np.random.Generator, canvas: Image.Image, xy: tuple[int, int], px: float,
                  max_width: int) -> None:
    """A row of colour swatches with names, serving several panels."""
    d = ImageDraw.Draw(canvas)
    f = load_font("DejaVuSans.ttf", max(6, int(px)))
    x, y = xy
    s = max(4, int(px * 0.8))
    names = GENES + WORDS
    start = int(rng.integers(10))
    for name in names[start : start + int(rng.integers(2, 6))]:
        col = tuple(int(v) for v in rng.integers(0, 220, 3))
        w = s + 4 + int(d.textlength(name, font=f)) + s
        if x + w > xy[0] + max_width:
            break
        d.rectangle((x, y, x + s, y + s), fill=col)
        d.text((x + s + 4, y - s // 4), name, font=f, fill=(0, 0, 0))
        x += w

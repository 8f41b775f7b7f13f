"""Image panel contents: pictures that ship offline with Python packages, procedural micrographs,
and (optionally) tiles of real unannotated figures.

- scikit-image's bundled `skimage.data` images (only those stored in the wheel; the ones it would
  download are skipped) and matplotlib's sample data (`grace_hopper.jpg`, the `s1045.ima.gz` MRI
  slice, the Jacksboro elevation model rendered with a colour map).
- Procedural look-alikes of common biomedical images: fluorescence micrographs, H&E histology,
  electron micrographs, DNA gels, MRI/CT-like slices.
- `tiles_dir`: any folder of figure images without annotations, read at generation time only.
  Evaluation folders are refused, so evaluation figures can never leak into training.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

log = logging.getLogger(__name__)

# Bundled in the scikit-image wheel (checked with sockets disabled; e.g. human_mitosis is not: it downloads,
# and under pytest its fetcher raises Skipped); microscopy-like ones first.
SKIMAGE_NAMES = ("immunohistochemistry", "retina", "cell", "coins", "moon", "camera", "hubble_deep_field",
                 "microaneurysms", "shepp_logan_phantom", "brick", "grass", "gravel",
                 "chelsea", "coffee", "astronaut", "rocket", "horse", "clock")
# Folders holding evaluation figures: never used as training content.
FORBIDDEN_PARTS = ("gold-dev", "exsclaim", "medicat_sample", "images-soda", "soda_mmqc")


def _to_rgb(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype != np.uint8:
        a = a.astype(np.float64)
        lo, hi = np.percentile(a, (1, 99))
        a = np.clip((a - lo) / max(hi - lo, 1e-9) * 255, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    return np.ascontiguousarray(a[..., :3])


def packaged_images() -> list[np.ndarray]:
    """Pictures shipped inside scikit-image and matplotlib, as RGB uint8 arrays."""
    out: list[np.ndarray] = []
    try:
        import skimage.data as skd

        for name in SKIMAGE_NAMES:
            try:
                out.append(_to_rgb(getattr(skd, name)()))
            except Exception:  # noqa: BLE001 - not bundled in this version (would download): skip it
                log.debug("skimage.data.%s unavailable offline", name)
    except ImportError:
        log.info("scikit-image not installed: no skimage.data pictures")
    from matplotlib import cbook, colormaps

    try:
        with cbook.get_sample_data("grace_hopper.jpg") as f:
            out.append(_to_rgb(np.asarray(Image.open(f).convert("RGB"))))
        with cbook.get_sample_data("s1045.ima.gz") as f:
            raw = f.read()
            if raw[:2] == b"\x1f\x8b":  # some matplotlib versions hand back the compressed bytes
                raw = gzip.decompress(raw)
            out.append(_to_rgb(np.frombuffer(raw, np.uint16).reshape(256, 256)))
        dem = cbook.get_sample_data("jacksboro_fault_dem.npz")["elevation"]
        dem = (dem - dem.min()) / np.ptp(dem)
        out.append((colormaps["gist_earth"](dem)[..., :3] * 255).astype(np.uint8))
    except (OSError, ValueError, KeyError):
        log.debug("matplotlib sample data unavailable")
    return out


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth random field in [0, 1] (bicubic up-sampling of coarse noise)."""
    coarse = Image.fromarray((rng.random((cells, cells)) * 255).astype(np.uint8))
    return np.asarray(coarse.resize((size, size), Image.BICUBIC), dtype=np.float32) / 255


def _blobs(rng: np.random.Generator, size: int, n: int, radius: tuple[float, float]) -> np.ndarray:
    mask = Image.new("L", (size, size), 0)
    from PIL import ImageDraw

    d = ImageDraw.Draw(mask)
    for _ in range(n):
        x, y = rng.uniform(0, size, 2)
        rx, ry = rng.uniform(*radius, 2)
        d.ellipse((x - rx, y - ry, x + rx, y + ry), fill=int(rng.integers(120, 256)))
    return np.asarray(mask.filter(ImageFilter.GaussianBlur(radius[0] / 3)), dtype=np.float32) / 255


def fluorescence(rng: np.random.Generator, size: int = 384) -> np.ndarray:
    nuclei = _blobs(rng, size, int(rng.integers(5, 60)), (6, 18))
    cyto = np.clip(_smooth_noise(rng, size, int(rng.integers(8, 30))) * 1.6 - 0.5, 0, 1) * rng.uniform(0.3, 1)
    chans = [np.zeros((size, size), np.float32) for _ in range(3)]
    chans[2] += nuclei
    chans[int(rng.integers(0, 2))] += cyto
    if rng.random() < 0.4:  # single-channel grey or single colour
        k = int(rng.integers(3))
        chans = [chans[2] + chans[0] + chans[1]] * 3 if rng.random() < 0.5 else [c * (i == k) + (nuclei + cyto) * (i == k) for i, c in enumerate(chans)]
    return (np.clip(np.stack(chans, -1), 0, 1) * 255).astype(np.uint8)


def histology(rng: np.random.Generator, size: int = 384) -> np.ndarray:
    tissue = _smooth_noise(rng, size, int(rng.integers(6, 24)))
    nuclei = _blobs(rng, size, int(rng.integers(40, 200)), (2, 6))
    pink = np.array([235, 170, 200]) * (0.75 + 0.25 * tissue[..., None])
    purple = np.array([90, 50, 140])
    img = pink * (1 - nuclei[..., None]) + purple * nuclei[..., None]
    lumen = tissue > rng.uniform(0.75, 0.95)
    img[lumen] = 245
    return np.clip(img, 0, 255).astype(np.uint8)


def electron(rng: np.random.Generator, size: int = 384) -> np.ndarray:
    field = _smooth_noise(rng, size, int(rng.integers(5, 20)))
    edges = np.abs(field - 0.5) < 0.03
    img = 120 + 60 * field + rng.normal(0, 12, (size, size))
    img[edges] -= 80
    return _to_rgb(np.clip(img, 0, 255).astype(np.uint8))


def gel(rng: np.random.Generator, size: int = 320) -> np.ndarray:
    img = np.full((size, size), 20.0) + rng.normal(0, 4, (size, size))
    lanes = int(rng.integers(4, 12))
    lw = size / lanes
    for lane in range(lanes):
        for _ in range(int(rng.integers(1, 6))):
            y = rng.uniform(0.05, 0.95) * size
            x1, x2 = int(lane * lw + lw * 0.15), int((lane + 1) * lw - lw * 0.15)
            img[int(y) : int(y) + int(rng.integers(3, 7)), x1:x2] += rng.uniform(60, 230)
    img = np.asarray(Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2)))
    return _to_rgb(255 - img if rng.random() < 0.4 else img)


def tomography(rng: np.random.Generator, size: int = 320) -> np.ndarray:
    from PIL import ImageDraw

    im = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(im)
    c = size / 2
    d.ellipse((c - size * 0.42, c - size * 0.46, c + size * 0.42, c + size * 0.46), fill=int(rng.integers(150, 230)))
    for _ in range(int(rng.integers(3, 12))):
        x, y = rng.uniform(0.25, 0.75, 2) * size
        r = rng.uniform(0.03, 0.15) * size
        d.ellipse((x - r, y - r * rng.uniform(0.5, 1.5), x + r, y + r), fill=int(rng.integers(20, 255)))
    a = np.asarray(im.filter(ImageFilter.GaussianBlur(1.5)), np.float32) + rng.normal(0, 8, (size, size))
    return _to_rgb(np.clip(a, 0, 255).astype(np.uint8))


def body_slice(rng: np.random.Generator, size: int = 320) -> np.ndarray:
    """A grey CT/MRI-like axial slice: a body outline with organs, bright bone, dark lungs, on black."""
    from PIL import ImageDraw

    im = Image.new("L", (size, size), int(rng.integers(0, 25)))
    d = ImageDraw.Draw(im)
    c = size / 2
    rx, ry = size * rng.uniform(0.3, 0.47), size * rng.uniform(0.25, 0.45)
    d.ellipse((c - rx, c - ry, c + rx, c + ry), fill=int(rng.integers(90, 150)))
    if rng.random() < 0.5:  # thorax: two dark lungs
        for sx in (-1, 1):
            lx = c + sx * rx * 0.45
            d.ellipse((lx - rx * 0.35, c - ry * 0.6, lx + rx * 0.35, c + ry * 0.6), fill=int(rng.integers(5, 40)))
    for _ in range(int(rng.integers(2, 9))):
        x, y = c + rng.uniform(-0.6, 0.6) * rx, c + rng.uniform(-0.6, 0.6) * ry
        r = rng.uniform(0.05, 0.2) * min(rx, ry)
        d.ellipse((x - r, y - r * rng.uniform(0.6, 1.4), x + r, y + r), fill=int(rng.integers(60, 256)))
    d.ellipse((c - rx * 0.12, c + ry * 0.55, c + rx * 0.12, c + ry * 0.8), fill=235)  # spine
    a = np.asarray(im.filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 2.0))), np.float32)
    a = a + rng.normal(0, rng.uniform(3, 10), (size, size))
    return _to_rgb(np.clip(a, 0, 255).astype(np.uint8))


def procedural_slices(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Grey slices for touching (butted) panels: body slices and tomography phantoms."""
    return [body_slice(rng) if i % 3 else tomography(rng) for i in range(n)]


PROCEDURAL = (fluorescence, fluorescence, histology, electron, gel, tomography)


def procedural_images(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    return [PROCEDURAL[i % len(PROCEDURAL)](rng) for i in range(n)]


def tile_images(tiles_dir: Path | None, limit: int = 200) -> list[np.ndarray]:
    """Unannotated real figures to crop tiles from (sorted for determinism); [] when absent."""
    if tiles_dir is None or not Path(tiles_dir).is_dir():
        return []
    resolved = Path(tiles_dir).resolve()
    if any(part in FORBIDDEN_PARTS for part in resolved.parts):
        raise ValueError(f"{resolved} holds evaluation figures: they must never enter training")
    files = sorted(p for p in resolved.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".tif", ".tiff"})
    out = []
    for p in files[:limit]:
        with Image.open(p) as im:
            im.thumbnail((1200, 1200))
            out.append(np.asarray(im.convert("RGB")))
    return out

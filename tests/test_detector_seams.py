"""Pictures that touch with no gutter are cut at their seams; one picture, a heat map and charts are not."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from subfigure_detector.postprocess import ink_mask
from subfigure_detector.seams import split_seams

skimage_data = pytest.importorskip("skimage.data")


def _on_page(pictures: np.ndarray, margin: int = 20) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    h, w = pictures.shape[:2]
    page = np.full((h + 2 * margin, w + 2 * margin, 3), 255, np.uint8)
    page[margin:margin + h, margin:margin + w] = pictures
    return page, (margin, margin, margin + w, margin + h)


def _ct_slice(radius: int, seed: int) -> np.ndarray:
    """A CT-like slice: a textured disc on black."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:200, :200]
    im = np.zeros((200, 200, 3), np.uint8)
    disc = (yy - 100) ** 2 + (xx - 100) ** 2 < radius ** 2
    im[disc] = rng.integers(80, 200, size=(int(disc.sum()), 1)).astype(np.uint8)
    return im


def test_ct_slices_side_by_side_are_cut_in_the_black_between_them():
    page, box = _on_page(np.concatenate([_ct_slice(70 + 5 * i, i) for i in range(3)], axis=1))
    assert split_seams(page, box, ink_mask(page)) == [(20, 20, 220, 220), (220, 20, 420, 220), (420, 20, 620, 220)]


def test_butted_photographs_are_cut_where_the_picture_changes():
    a = skimage_data.astronaut()[::2, ::2][:256, :256]
    b, c = skimage_data.chelsea()[:256, :256], skimage_data.coffee()[:256, :256]
    grid = np.concatenate([np.concatenate([a, b], axis=1), np.concatenate([c, a[:, ::-1]], axis=1)], axis=0)
    page, box = _on_page(grid)
    tiles = split_seams(page, box, ink_mask(page))
    assert sorted(tiles) == sorted([(20, 20, 276, 276), (276, 20, 532, 276), (20, 276, 276, 532), (276, 276, 532, 532)])


@pytest.mark.parametrize("name", ["one wide photo", "heat map", "coins", "chart"])
def test_one_picture_a_heat_map_and_a_chart_stay_whole(name):
    if name == "one wide photo":
        pic = np.asarray(Image.fromarray(skimage_data.astronaut()).resize((600, 200)))
    elif name == "heat map":
        cells = np.random.default_rng(0).integers(0, 255, (6, 12, 3))
        pic = np.kron(cells, np.ones((40, 50, 1))).astype(np.uint8)
    elif name == "coins":
        pic = np.stack([skimage_data.coins()[:300, :300]] * 3, axis=-1)
    else:  # a line chart: mostly white, so no picture at all
        pic = np.full((200, 600, 3), 255, np.uint8)
        pic[100, :] = 0
        pic[:, 300] = 0
    page, box = _on_page(pic)
    assert split_seams(page, box, ink_mask(page)) == [box]

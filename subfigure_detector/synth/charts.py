"""Scientific charts drawn with matplotlib, as panel contents for synthetic compound figures.

`render_chart(rng, aspect)` draws one chart of a random kind (bar, line, scatter, box, violin,
heatmap with colour bar, survival curves, western-blot-like bands, histogram) with random styling
(fonts, sizes, spines, legends, titles, colours) and returns it as an RGB array cropped tight to
its ink, so that a panel box computed from pasted charts is tight too. Uses matplotlib's
object API with the Agg canvas (no pyplot global state), so it is safe in worker processes.
"""

from __future__ import annotations

from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from subfigure_detector.synth.render_utils import trim  # noqa: E402

FONTS = ["DejaVu Sans", "DejaVu Sans", "DejaVu Serif", "STIXGeneral", "DejaVu Sans Mono"]
PALETTES = ["tab10", "Set1", "Dark2", "Set2", "Paired", "gray", "viridis", "plasma", "coolwarm"]
CMAPS = ["viridis", "magma", "RdBu_r", "coolwarm", "hot", "Blues", "YlOrRd", "bwr", "inferno", "gray"]
WORDS = ["Control", "WT", "KO", "Vehicle", "Treated", "siRNA", "shCtrl", "DMSO", "Drug", "Mock", "Day 1",
         "Day 7", "Low", "High", "Placebo", "Tumor", "Normal", "Sham", "Model", "Group A", "Group B"]
AXIS = ["Time (h)", "Concentration (µM)", "Relative expression", "Cell viability (%)", "Fold change",
        "Intensity (a.u.)", "Weight (g)", "Days", "log2 FC", "-log10 P", "Density", "Count", "Age (years)",
        "Survival probability", "Area (µm²)", "mRNA level", "Frequency", "Dose (mg/kg)", "Score"]
GENES = ["GAPDH", "ACTB", "TP53", "AKT", "p-AKT", "ERK1/2", "MYC", "BCL2", "Caspase-3", "LC3B", "Tubulin",
         "EGFR", "HIF-1α", "NF-κB", "STAT3", "mTOR", "PTEN", "CD44", "VEGF", "IL-6"]


def _colors(rng: np.random.Generator, n: int) -> list:
    cmap = matplotlib.colormaps[PALETTES[int(rng.integers(len(PALETTES)))]]
    if cmap.N < 50:  # qualitative palette
        start = int(rng.integers(cmap.N))
        return [cmap((start + i) % cmap.N) for i in range(n)]
    lo, hi = (0.0, 0.75) if cmap.name == "gray" else (0.05, 0.95)
    return [cmap(v) for v in np.linspace(lo, hi, n)]


def _pick(rng: np.random.Generator, items: list[str], k: int = 1) -> list[str]:
    return [items[i] for i in rng.choice(len(items), size=k, replace=k > len(items))]


def _legend(rng: np.random.Generator, ax: Axes, p: float = 0.6) -> None:
    if rng.random() < p and ax.get_legend_handles_labels()[0]:
        locs = ["best", "upper right", "upper left", "lower right", "center left"]
        kw = {"bbox_to_anchor": (1.02, 1.0), "loc": "upper left"} if rng.random() < 0.25 else {"loc": locs[int(rng.integers(5))]}
        ax.legend(frameon=bool(rng.random() < 0.5), fontsize="small", **kw)


def _bar(rng: np.random.Generator, ax: Axes) -> None:
    groups, series = int(rng.integers(2, 7)), int(rng.integers(1, 4))
    width = 0.8 / series
    names = _pick(rng, WORDS, groups)
    for s, c in enumerate(_colors(rng, series)):
        h = rng.gamma(2.0, 1.0, groups) + 0.2
        err = h * rng.uniform(0.05, 0.25, groups)
        ax.bar(np.arange(groups) + s * width, h, width, yerr=err, color=c, capsize=2,
               edgecolor="black" if rng.random() < 0.5 else None, linewidth=0.6, label=f"Series {s + 1}")
        if rng.random() < 0.3:  # jittered points over the bars
            for g in range(groups):
                ax.scatter(g + s * width + rng.normal(0, width / 8, 5), h[g] * rng.normal(1, 0.15, 5), s=4, color="k")
    ax.set_xticks(np.arange(groups) + width * (series - 1) / 2, names, rotation=45 if rng.random() < 0.4 else 0)
    if rng.random() < 0.5:
        ax.text(0.5, 0.95, "*" * int(rng.integers(1, 4)), transform=ax.transAxes, ha="center", va="top")
    _legend(rng, ax, 0.6 if series > 1 else 0.0)


def _line(rng: np.random.Generator, ax: Axes) -> None:
    x = np.linspace(0, rng.uniform(5, 100), int(rng.integers(6, 40)))
    log_x = rng.random() < 0.2
    for s, c in enumerate(_colors(rng, int(rng.integers(1, 5)))):
        y = np.cumsum(rng.normal(rng.normal(0, 1), 1, x.size))
        if log_x:
            y = 1 / (1 + np.exp(-(np.log10(x + 1) - rng.uniform(0.5, 1.5)) * 4)) * 100
        marker = ["o", "s", "^", "", "d"][int(rng.integers(5))]
        ax.plot(x, y, marker=marker, ms=3, color=c, lw=rng.uniform(0.8, 2.0), label=_pick(rng, WORDS)[0])
        if rng.random() < 0.3:
            ax.fill_between(x, y - 1, y + 1, color=c, alpha=0.2, lw=0)
    if log_x:
        ax.set_xscale("symlog")
    _legend(rng, ax)


def _scatter(rng: np.random.Generator, ax: Axes) -> None:
    n = int(rng.integers(20, 400))
    x = rng.normal(0, 1, n)
    y = x * rng.uniform(-1, 1) + rng.normal(0, 1, n)
    if rng.random() < 0.4:  # colour-mapped with a colour bar
        sc = ax.scatter(x, y, c=y - x, s=rng.uniform(3, 20), cmap=CMAPS[int(rng.integers(len(CMAPS)))])
        ax.figure.colorbar(sc, ax=ax, fraction=0.05)
    else:
        for c in _colors(rng, int(rng.integers(1, 4))):
            k = rng.random(n) < 0.5
            ax.scatter(x[k], y[k] + rng.normal(0, 0.3), s=rng.uniform(3, 20), color=c, alpha=0.8, label=_pick(rng, WORDS)[0])
        if rng.random() < 0.5:
            p = np.polyfit(x, y, 1)
            ax.plot(np.sort(x), np.polyval(p, np.sort(x)), "k--", lw=1)
            ax.text(0.05, 0.92, f"r = {np.corrcoef(x, y)[0, 1]:.2f}", transform=ax.transAxes, fontsize="small")
        _legend(rng, ax, 0.4)


def _box(rng: np.random.Generator, ax: Axes) -> None:
    k = int(rng.integers(2, 7))
    data = [rng.normal(rng.normal(0, 2), rng.uniform(0.5, 2), int(rng.integers(10, 60))) for _ in range(k)]
    if rng.random() < 0.35:
        parts = ax.violinplot(data, showmedians=True)
        for b, c in zip(parts["bodies"], _colors(rng, k)):
            b.set_facecolor(c)
    else:
        bp = ax.boxplot(data, patch_artist=True, widths=0.6)
        for b, c in zip(bp["boxes"], _colors(rng, k)):
            b.set_facecolor(c)
    if rng.random() < 0.5:
        for i, d in enumerate(data):
            ax.scatter(i + 1 + rng.normal(0, 0.06, d.size), d, s=3, color="k", alpha=0.6)
    ax.set_xticks(range(1, k + 1), _pick(rng, WORDS, k))


def _heatmap(rng: np.random.Generator, ax: Axes) -> None:
    r, c = int(rng.integers(4, 30)), int(rng.integers(3, 16))
    m = rng.normal(0, 1, (r, c)) + np.outer(rng.normal(0, 1, r), rng.normal(0, 1, c))
    im = ax.imshow(m, aspect="auto", cmap=CMAPS[int(rng.integers(len(CMAPS)))], interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, fraction=0.06 if rng.random() < 0.5 else 0.03)
    if r <= 20:
        ax.set_yticks(range(r), _pick(rng, GENES, r), fontsize="x-small")
    ax.set_xticks(range(c), [f"S{i + 1}" for i in range(c)], fontsize="x-small", rotation=90)
    if rng.random() < 0.3 and c <= 8:
        for i in range(r):
            for j in range(c):
                ax.text(j, i, f"{m[i, j]:.1f}", ha="center", va="center", fontsize=5)


def _survival(rng: np.random.Generator, ax: Axes) -> None:
    for c in _colors(rng, int(rng.integers(2, 4))):
        t = np.sort(rng.exponential(rng.uniform(10, 60), 40))
        s = 1 - np.arange(1, t.size + 1) / (t.size + rng.integers(0, 10))
        ax.step(np.r_[0, t], np.r_[1, s], where="post", color=c, label=_pick(rng, WORDS)[0])
        cens = rng.random(t.size) < 0.2
        ax.plot(t[cens], s[cens], "+", color=c, ms=5)
    ax.set_ylim(0, 1.05)
    ax.text(0.6, 0.85, f"p = {rng.uniform(0.0001, 0.05):.3f}", transform=ax.transAxes, fontsize="small")
    _legend(rng, ax, 0.8)


def _hist(rng: np.random.Generator, ax: Axes) -> None:
    for c in _colors(rng, int(rng.integers(1, 3))):
        ax.hist(rng.normal(rng.normal(0, 1), 1, 500), bins=int(rng.integers(10, 40)), color=c, alpha=0.7,
                label=_pick(rng, WORDS)[0], histtype="stepfilled" if rng.random() < 0.7 else "step")
    _legend(rng, ax, 0.5)


def _blot(rng: np.random.Generator, ax: Axes) -> None:
    """Western-blot-like bands: dark bands on light grey, lane labels on top, protein names left."""
    lanes, rows = int(rng.integers(2, 9)), int(rng.integers(1, 5))
    h, w = rows * 24, lanes * 30
    img = np.full((h, w), 0.92) + rng.normal(0, 0.02, (h, w))
    yy, xx = np.mgrid[0:h, 0:w]
    for r in range(rows):
        for lane in range(lanes):
            amp = rng.uniform(0.1, 0.9)
            cx, cy = lane * 30 + 15, r * 24 + 12
            img -= amp * np.exp(-(((xx - cx) / 10) ** 6) - ((yy - cy) / rng.uniform(2, 4)) ** 2)
    ax.imshow(np.clip(img, 0, 1), cmap="gray", vmin=0, vmax=1, aspect="auto")
    ax.set_yticks([r * 24 + 12 for r in range(rows)], _pick(rng, GENES, rows))
    ax.set_xticks(range(15, w, 30), ["+" if rng.random() < 0.5 else "−" for _ in range(lanes)])
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for s in ax.spines.values():
        s.set_visible(rng.random() < 0.3)


KINDS: dict[str, Callable[[np.random.Generator, Axes], None]] = {
    "bar": _bar, "line": _line, "scatter": _scatter, "box": _box, "heatmap": _heatmap,
    "survival": _survival, "hist": _hist, "blot": _blot,
}
_WEIGHTS = {"bar": 3, "line": 2.5, "scatter": 1.5, "box": 1.5, "heatmap": 1, "survival": 1, "hist": 1, "blot": 1.5}


def render_chart(rng: np.random.Generator, aspect: float, kind: str | None = None) -> np.ndarray:
    """One chart, width/height ≈ `aspect`, as an RGB uint8 array trimmed to its ink."""
    if kind is None:
        names = list(_WEIGHTS)
        p = np.array([_WEIGHTS[k] for k in names])
        kind = names[int(rng.choice(len(names), p=p / p.sum()))]
    w_in = rng.uniform(2.2, 4.5)
    dpi = int(rng.integers(70, 130))
    font = FONTS[int(rng.integers(len(FONTS)))]
    size = float(rng.uniform(6, 11))
    with matplotlib.rc_context({"font.family": font, "font.size": size, "axes.linewidth": rng.uniform(0.5, 1.5),
                                "xtick.direction": "in" if rng.random() < 0.3 else "out",
                                "ytick.direction": "in" if rng.random() < 0.3 else "out",
                                "mathtext.default": "regular"}):
        fig = Figure(figsize=(w_in, w_in / aspect), dpi=dpi, facecolor="white")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        KINDS[kind](rng, ax)
        if kind != "blot":
            if rng.random() < 0.65:
                ax.spines[["top", "right"]].set_visible(False)
            if rng.random() < 0.85:
                ax.set_ylabel(_pick(rng, AXIS)[0])
            if rng.random() < 0.6 and kind not in ("bar", "box", "heatmap"):
                ax.set_xlabel(_pick(rng, AXIS)[0])
            if rng.random() < 0.15:
                ax.grid(True, lw=0.4, alpha=0.5)
        if rng.random() < 0.25:
            ax.set_title(_pick(rng, WORDS + GENES)[0], fontsize=size * rng.uniform(1.0, 1.3))
        try:
            fig.tight_layout(pad=0.3)
        except (ValueError, RuntimeError):  # tight_layout can fail on extreme aspects; the plain layout is fine
            pass
        fig.canvas.draw()
        rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    return trim(rgb, (255, 255, 255))


# --- Several plots in one image (one label-owned panel): flow-cytometry gates, shared-axis rows. ---

MARKERS = ["CD4", "CD8", "CD3", "CD19", "CD45", "FSC-A", "SSC-A", "Annexin V", "PI", "GFP", "CD11b", "Ly6G",
           "F4/80", "IFN-γ", "Ki67", "CD44", "CD62L", "FoxP3", "7-AAD", "CFSE"]
FLOW_CMAPS = ["jet", "turbo", "viridis", "gray_r", "Blues", "hot_r"]


def _flow(rng: np.random.Generator, ax: Axes, cmap: str, xlab: str, ylab: str) -> None:
    """A flow-cytometry density plot: log-ish clusters, a gate box or quadrants, percentages."""
    pts = []
    for _ in range(int(rng.integers(1, 4))):
        n = int(rng.integers(300, 2000))
        c = rng.uniform(0.5, 4.0, 2)
        pts.append(rng.normal(c, rng.uniform(0.2, 0.6, 2), (n, 2)))
    xy = np.clip(np.concatenate(pts), 0, 5)
    if rng.random() < 0.5:
        ax.hexbin(xy[:, 0], xy[:, 1], gridsize=int(rng.integers(25, 60)), cmap=cmap, mincnt=1, bins="log")
    else:
        ax.scatter(xy[:, 0], xy[:, 1], s=rng.uniform(0.3, 2), c=xy[:, 0] * 0 + rng.random(len(xy)), cmap=cmap,
                   linewidths=0)
    ax.set_xlim(0, 5)
    ax.set_ylim(0, 5)
    fs = float(rng.uniform(5, 8))
    if rng.random() < 0.5:  # quadrant gates with four percentages
        qx, qy = rng.uniform(1.5, 3.5, 2)
        ax.axvline(qx, color="k", lw=0.8)
        ax.axhline(qy, color="k", lw=0.8)
        share = rng.dirichlet(np.ones(4)) * 100
        for (tx, ty), s in zip(((0.04, 0.93), (0.96, 0.93), (0.04, 0.04), (0.96, 0.04)), share):
            ax.text(tx, ty, f"{s:.1f}", transform=ax.transAxes, fontsize=fs, ha="left" if tx < 0.5 else "right",
                    va="top" if ty > 0.5 else "bottom")
    else:  # a rectangular gate with its percentage
        gx, gy = rng.uniform(0.3, 3.0, 2)
        gw, gh = rng.uniform(0.8, 1.8, 2)
        ax.add_patch(matplotlib.patches.Rectangle((gx, gy), gw, gh, fill=False, lw=1.0, ec="k"))
        ax.text(gx + gw / 2, min(4.8, gy + gh + 0.1), f"{rng.uniform(0.5, 80):.1f}%", fontsize=fs, ha="center")
    ax.set_xticks([0, 1, 2, 3, 4, 5], ["0", "$10^1$", "$10^2$", "$10^3$", "$10^4$", "$10^5$"], fontsize=fs)
    ax.set_yticks([0, 1, 2, 3, 4, 5], ["0", "$10^1$", "$10^2$", "$10^3$", "$10^4$", "$10^5$"], fontsize=fs)
    ax.set_xlabel(xlab, fontsize=fs + 1)
    ax.set_ylabel(ylab, fontsize=fs + 1)


MULTI_KINDS = ("flow", "flow", "line", "bar", "scatter", "hist", "box")


def render_multi_chart(rng: np.random.Generator, n: int, vertical: bool, kind: str | None = None) -> np.ndarray:
    """n small plots in one row (or column) of one matplotlib figure: flow plots with gates, or
    charts of one kind with shared or separate axes. RGB uint8 trimmed to its ink."""
    kind = kind or MULTI_KINDS[int(rng.integers(len(MULTI_KINDS)))]
    shared = bool(rng.random() < 0.5)
    rows, cols = (n, 1) if vertical else (1, n)
    side = rng.uniform(1.3, 2.2)
    dpi = int(rng.integers(70, 120))
    font = FONTS[int(rng.integers(len(FONTS)))]
    size = float(rng.uniform(6, 9))
    with matplotlib.rc_context({"font.family": font, "font.size": size, "mathtext.default": "regular",
                                "axes.linewidth": rng.uniform(0.5, 1.2)}):
        fig = Figure(figsize=(side * cols, side * rows * rng.uniform(0.8, 1.1)), dpi=dpi, facecolor="white")
        FigureCanvasAgg(fig)
        axes = fig.subplots(rows, cols, sharex=shared, sharey=shared, squeeze=False).ravel()
        cmap = FLOW_CMAPS[int(rng.integers(len(FLOW_CMAPS)))]
        xlab, ylab = _pick(rng, MARKERS, 2)
        titles = rng.random() < 0.5
        names = _pick(rng, WORDS + ["0 h", "6 h", "24 h", "48 h", "Day 0", "Day 3", "Day 7"], n)
        for k, ax in enumerate(axes):
            sub = np.random.default_rng(rng.integers(2**32))
            if kind == "flow":
                _flow(sub, ax, cmap, xlab, ylab)
            else:
                KINDS[kind](sub, ax)
                if ax.get_legend():
                    ax.get_legend().remove()
                if rng.random() < 0.65:
                    ax.spines[["top", "right"]].set_visible(False)
            if titles:
                ax.set_title(names[k], fontsize=size)
            if shared:
                ax.label_outer()
        if kind != "flow" and rng.random() < 0.8:
            axes[0].set_ylabel(_pick(rng, AXIS)[0])
        try:
            fig.tight_layout(pad=0.3, h_pad=0.4 if shared else 1.0, w_pad=0.4 if shared else 1.0)
        except (ValueError, RuntimeError):
            pass
        fig.canvas.draw()
        rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    return trim(rgb, (255, 255, 255))

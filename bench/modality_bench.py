"""Imaging-modality assignment: per-class precision/recall on the labelled dev set, and speed.

    python bench/modality_bench.py [--write-results] [--errors N] [--split dev|heldout|all]
                                   [--rounds R] [--shared DIR]

Data: ``tests/fixtures/modality/dev.jsonl`` (see its SOURCES.md). Captions of CC BY / CC0 / public
domain articles are stored in the file. The other collections (prostate, soda, medicat, exsclaim)
keep only ids and labels. Their text is read here from the shared fixture store (``--shared``,
default ``/work/shared/fixtures``), and they are skipped when it is absent.

Held-out split: deterministic, by article. ``heldout(record)`` is true when
``sha1("modality:" + article key) % 4 == 0``. The rules were tuned looking at dev-split errors only.

Measurements (gold labels were written by reading the captions and, for the image panels, the
figures; never from the classifier's output):

- ``figure``: the whole caption → one code, compared with the record's ``label`` (its dominant
  modality: most panels; ties go to the first panel). Text only.
- ``figure+citances``: the same, plus the article's citances of the figure (JATS articles only).
- ``figure sets``: the set of panel codes from ``classify_figure`` (split by
  ``captions.subcaptions``), compared with the record's ``labels`` set. Each class is scored as a
  multi-label decision.
- ``panels``: one code per labelled panel. The subcaption is the curators' panel caption (soda)
  or the splitter's output for that label (other collections). The whole caption is context, and
  JATS citances that name the panel are added. When the splitter misses a label, the figure-level
  code is used for that panel.
- ``images``: panels with a hand-drawn box (``compound-figures/gold-dev``) or single-panel figure
  images from the OA packages. Each is scored text only, text + image cues, and image cues only
  (top-level group accuracy for the last).
- speed: ``classify()`` on every available caption, in one process, as CPU time (captions per
  CPU-second = per core). A 100 kB caption is timed separately.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import re
import sys
import tarfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from captions.modality import PanelTexts, classify, classify_figure, group_of  # noqa: E402
from captions.subcaptions import split_caption  # noqa: E402

DEV = ROOT / "tests/fixtures/modality/dev.jsonl"
PACKAGES = ROOT / "tests/fixtures/packages"
RESULTS = ROOT / "bench/RESULTS.md"
SECTION = "## Modality"


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass
class Item:
    rec: dict
    caption: str
    citances: list[str] = field(default_factory=list)
    panel_citances: dict[str, list[str]] = field(default_factory=dict)
    panel_texts: dict[str, str] = field(default_factory=dict)  # curated subcaptions (soda)

    @property
    def heldout(self) -> bool:
        return heldout(self.rec)


def article_key(rec: dict) -> str:
    coll, fid = rec["collection"], rec["figure_id"]
    if coll in ("nxml", "package", "soda"):
        return rec["source"]
    if coll == "exsclaim":
        return fid.split("_fig")[0]
    if coll == "soda_images":
        return fid.split("__")[1]
    if coll == "medicat":
        return fid.split("_")[0]
    # prostate: the image name without its figure part ("pone.0021625.g001.jpg" → "pone.0021625")
    return re.sub(r"(?:[-_.](?:g|f|fig|Fig|F)?0*\d+[A-Za-z]?)?(?:_HTML)?\.jpg$", "", fid)


def heldout(rec: dict) -> bool:
    return int(hashlib.sha1(("modality:" + article_key(rec)).encode()).hexdigest(), 16) % 4 == 0


def _strip_html(s: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", s or "")).replace("\n", " ")


def load_items(shared: Path) -> tuple[list[Item], Counter]:
    recs = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    skipped: Counter = Counter()
    items: list[Item] = []
    cache: dict[str, object] = {}

    def shared_json(rel: str):
        if rel not in cache:
            p = shared / rel
            cache[rel] = json.loads(p.read_text(encoding="utf-8")) if p.exists() else None
        return cache[rel]

    medicat = {}
    mp = shared / "compound-figures/medicat_sample/sample.jsonl"
    if mp.exists():
        for line in mp.read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            medicat[f"{d['pdf_hash']}_{d['fig_uri']}"] = d["s2_caption"]

    for rec in recs:
        coll = rec["collection"]
        if rec.get("caption") is not None:
            items.append(Item(rec, rec["caption"]))
            continue
        if coll == "prostate":
            d = shared_json(rec["source"])
            if d is None or rec["figure_id"] not in d:
                skipped[coll] += 1
                continue
            items.append(Item(rec, d[rec["figure_id"]]["caption"]))
        elif coll == "soda":
            d = shared_json(rec["source"])
            fig = None if d is None else next((f for f in d["figures"] if f["figure_label"] == rec["figure_id"]), None)
            if fig is None:
                skipped[coll] += 1
                continue
            title = _strip_html(fig.get("caption_title") or "")
            body = _strip_html(fig["figure_caption"])
            cap = body if body.startswith(title[:30]) else f"{title}. {body}" if title else body
            panels = {p["panel_label"]: _strip_html(p["panel_caption"]) for p in fig["panels"] if p["panel_label"]}
            items.append(Item(rec, cap, panel_texts=panels))
        elif coll == "medicat":
            if rec["figure_id"] not in medicat:
                skipped[coll] += 1
                continue
            cap = re.sub(r"^\s*Fig(?:ure)?\.?\s*\d+\.\s*", "", medicat[rec["figure_id"]])
            items.append(Item(rec, cap))
        elif coll == "soda_images":
            if not (shared / rec["source"]).exists():
                skipped[coll] += 1
                continue
            items.append(Item(rec, ""))  # image-only record: scored in run_images only
        elif coll == "exsclaim":
            d = shared_json(rec["source"])
            if d is None or rec["figure_id"] not in d:
                skipped[coll] += 1
                continue
            items.append(Item(rec, d[rec["figure_id"]]["full_caption"]))
        else:
            skipped[coll] += 1
    _attach_citances(items, shared)
    return items, skipped


def _attach_citances(items: list[Item], shared: Path) -> None:
    from harvester.jats import parse_jats

    by_source: dict[str, list[Item]] = defaultdict(list)
    for it in items:
        if it.rec["collection"] == "nxml":
            by_source[it.rec["source"]].append(it)
    for src, its in by_source.items():
        p = shared / src
        if not p.exists():
            continue
        for art in parse_jats(p.read_bytes()):
            for it in its:
                fid = it.rec["figure_id"]
                for c in art.citances:
                    if fid not in c.figure_ids:
                        continue
                    it.citances.append(c.text)
                    panels = c.panels_by_figure.get(fid, c.panels if len(c.figure_ids) == 1 else [])
                    for lab in panels:
                        it.panel_citances.setdefault(lab.upper(), []).append(c.text)


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


@dataclass
class Confusion:
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (gold, predicted)

    def add(self, gold: str, pred: str) -> None:
        self.pairs.append((gold, pred))

    def per_class(self) -> dict[str, tuple[int, int, int]]:
        """class → (support, true positives, predicted count)."""
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for g, p in self.pairs:
            out[g][0] += 1
            out[p][2] += 1
            if g == p:
                out[g][1] += 1
        return {k: tuple(v) for k, v in out.items()}  # type: ignore[misc]

    def accuracy(self, key=lambda c: c) -> float:
        return sum(key(g) == key(p) for g, p in self.pairs) / max(1, len(self.pairs))


@dataclass
class SetScores:
    """Multi-label: per class, gold count, true positives, predicted count."""

    counts: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    exact: int = 0
    n: int = 0

    def add(self, gold: Iterable[str], pred: Iterable[str]) -> None:
        g, p = set(gold), set(pred)
        for c in g:
            self.counts[c][0] += 1
        for c in p:
            self.counts[c][2] += 1
        for c in g & p:
            self.counts[c][1] += 1
        self.exact += g == p
        self.n += 1

    def micro(self) -> tuple[float, float]:
        gold = sum(v[0] for v in self.counts.values())
        tp = sum(v[1] for v in self.counts.values())
        pred = sum(v[2] for v in self.counts.values())
        return tp / max(1, pred), tp / max(1, gold)


def _pr(tp: int, support: int, predicted: int) -> str:
    p = f"{tp / predicted:.2f}" if predicted else "–"
    r = f"{tp / support:.2f}" if support else "–"
    return f"{p} | {r}"


def class_table(dev: dict[str, tuple[int, int, int]], held: dict[str, tuple[int, int, int]], title: str) -> list[str]:
    classes = sorted(set(dev) | set(held), key=lambda c: (-(dev.get(c, (0,))[0] + held.get(c, (0,))[0]), c))
    lines = [
        f"**{title}**",
        "",
        "| class | dev n | dev P | dev R | held-out n | held-out P | held-out R |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in classes:
        d = dev.get(c, (0, 0, 0))
        h = held.get(c, (0, 0, 0))
        lines.append(f"| `{c}` | {d[0]} | {_pr(d[1], d[0], d[2])} | {h[0]} | {_pr(h[1], h[0], h[2])} |")
    return lines


# --------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------


def _norm_label(label: str | None) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", label or "").upper()


def run_text(items: list[Item]) -> dict:
    res: dict = {}
    for split in ("dev", "heldout"):
        its = [it for it in items if it.heldout == (split == "heldout") and it.caption]
        fig, figc, pan = Confusion(), Confusion(), Confusion()
        sets = SetScores()
        errors: list[str] = []
        for it in its:
            r = classify(PanelTexts(None, it.caption))
            fig.add(it.rec["label"], r.code)
            if r.code != it.rec["label"]:
                errors.append(f"[{it.rec['collection']}] {it.rec['figure_id']}: gold {it.rec['label']} got {r.code} "
                              f"({r.confidence}) | {'; '.join(r.evidence[:4])} | {it.caption[:160]}")
            rc = classify(PanelTexts(None, it.caption, it.citances)) if it.citances else r
            figc.add(it.rec["label"], rc.code)
            fm = classify_figure(it.caption, citances=it.citances, panel_citances=it.panel_citances)
            sets.add(it.rec["labels"], fm.codes)
            gold_panels = it.rec.get("panel_labels") or {}
            if gold_panels:
                if it.panel_texts:
                    subs = {_norm_label(k): v for k, v in it.panel_texts.items()}
                else:
                    subs = {_norm_label(s.label): s.text for s in split_caption(it.caption)}
                for lab, gold in gold_panels.items():
                    key = _norm_label(lab)
                    if key in subs:
                        pr = classify(PanelTexts(subs[key], it.caption, it.panel_citances.get(key, ())))
                    else:
                        pr = rc
                    pan.add(gold, pr.code)
                    if pr.code != gold:
                        errors.append(f"  panel {it.rec['figure_id']}/{lab}: gold {gold} got {pr.code} | "
                                      f"{'; '.join(pr.evidence[:3])} | {subs.get(key, '<missed>')[:120]}")
        res[split] = dict(n=len(its), fig=fig, figc=figc, sets=sets, pan=pan, errors=errors,
                          ncit=sum(1 for it in its if it.citances))
    return res


def _gold_images(shared: Path, items: list[Item]) -> list[tuple[Item, str | None, object]]:
    """(item, panel label or None, PIL image crop) for every panel with a box or a package image."""
    from PIL import Image

    by_fid = {it.rec["figure_id"]: it for it in items}
    out: list[tuple[Item, str | None, object]] = []
    gd = shared / "compound-figures/gold-dev"
    href_to_id: dict[str, str] = {}
    pkg_images: dict[str, bytes] = {}
    if PACKAGES.exists():
        from harvester.jats import parse_jats

        for p in sorted(PACKAGES.glob("*.tar.gz")):
            with tarfile.open(p) as t:
                for m in t.getmembers():
                    base = os.path.basename(m.name)
                    if base.endswith(".nxml"):
                        for art in parse_jats(t.extractfile(m).read()):
                            for f in art.figures:
                                for h in f.graphic_hrefs:
                                    href_to_id[h] = f.jats_id or ""
                    elif base.endswith(".jpg") and ".e" not in base[-9:]:
                        pkg_images[base[:-4]] = t.extractfile(m).read()
    boxed: set[str] = set()
    for name, img_dir in (
        ("gold.json", gd / "images"),
        ("gold-exsclaim.json", shared / "compound-figures/exsclaim/images"),
        ("gold-soda.json", gd / "images-soda"),
    ):
        p = gd / name
        if not p.exists():
            continue
        for f in json.loads(p.read_text(encoding="utf-8"))["figures"]:
            image = f["image"]
            if image.startswith("medicat__"):
                fid = image[len("medicat__"):]
            elif image.startswith("oa_pkg__"):
                fid = href_to_id.get(image.split("__")[-1].rsplit(".", 1)[0], "")
            else:
                fid = image
            it = by_fid.get(fid)
            ip = img_dir / image
            if it is None or not ip.exists():
                continue
            boxed.add(fid)
            with Image.open(ip) as im:
                im.load()
                for panel in f["panels"]:
                    x1, y1, x2, y2 = panel["box"]
                    out.append((it, panel["label"], im.crop((x1, y1, x2, y2))))
    import io

    for href, data in sorted(pkg_images.items()):
        fid = href_to_id.get(href)
        it = by_fid.get(fid or "")
        if it is None or fid in boxed:
            continue
        im = Image.open(io.BytesIO(data))
        im.load()
        out.append((it, None, im))
    return out


def run_images(items: list[Item], shared: Path) -> dict:
    res: dict = {}
    samples = _gold_images(shared, items)
    for split in ("dev", "heldout"):
        text_c, both_c, img_c = Confusion(), Confusion(), Confusion()
        errors: list[str] = []
        n = 0
        for it, label, crop in samples:
            if it.heldout != (split == "heldout"):
                continue
            gold_panels = {_norm_label(k): v for k, v in (it.rec.get("panel_labels") or {}).items()}
            key = _norm_label(label)
            if key and key in gold_panels:
                gold = gold_panels[key]
            elif len(it.rec["labels"]) == 1:
                gold = it.rec["labels"][0]
            else:
                continue
            subs = {_norm_label(s.label): s.text for s in split_caption(it.caption)} if key and it.caption else {}
            texts = PanelTexts(subs[key], it.caption) if key in subs else PanelTexts(None, it.caption)
            t = classify(texts)
            b = classify(texts, crop)
            i = classify(PanelTexts(), crop)
            if it.caption:  # text-only and text + image are compared on captioned panels
                text_c.add(gold, t.code)
                both_c.add(gold, b.code)
            img_c.add(gold, i.code)
            n += 1
            if b.code != gold:
                errors.append(f"  image {it.rec['figure_id']}/{label}: gold {gold} text {t.code} text+image {b.code} "
                              f"image-only {i.code} | {'; '.join(e for e in b.evidence if e.startswith('image'))}")
        res[split] = dict(n=n, text=text_c, both=both_c, img=img_c, errors=errors)
    return res


def run_speed(items: list[Item], rounds: int) -> dict:
    caps = [it.caption for it in items if it.caption]
    texts = [PanelTexts(None, c) for c in caps]
    for t in texts[:50]:
        classify(t)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for t in texts:
            classify(t)
        best = min(best, time.process_time() - t0)
    big = ("Immunofluorescence of HeLa cells stained with DAPI (blue); mean ± SEM, n = 3. " * 1400)[:100_000]
    t0 = time.process_time()
    r = classify(PanelTexts(None, big))
    big_s = time.process_time() - t0
    mean_len = sum(map(len, caps)) / max(1, len(caps))
    return dict(n=len(caps), seconds=best, per_s=len(caps) / best if best else float("inf"), mean_len=mean_len,
                big_ms=big_s * 1000, big_code=r.code)


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def report(items: list[Item], skipped: Counter, text: dict, images: dict, speed: dict, argv: str) -> str:
    coll = Counter(it.rec["collection"] for it in items)
    ntext = sum(1 for it in items if it.caption)
    held = Counter(it.rec["collection"] for it in items if it.heldout)
    L: list[str] = [SECTION, ""]
    L.append(f"`{argv}` ({time.strftime('%Y-%m-%d')}; one process on the 2-core development machine, "
             "which was shared with a training job). Code: `captions/modality.py`, rules in "
             "`captions/modality_rules.py`, image cues in `captions/image_cues.py`.")
    L.append("")
    npanels = sum(len(it.rec.get("panel_labels") or {}) for it in items)
    L.append(
        f"Dev set `tests/fixtures/modality/dev.jsonl`: {len(items)} labelled figures read ({ntext} with a "
        f"caption; {sum(held.values())} held out, split by article: `sha1('modality:' + article) % 4 == 0`), "
        f"{npanels} labelled panels. By collection (all / held out): "
        + ", ".join(f"{c} {coll[c]}/{held[c]}" for c in sorted(coll))
        + "."
        + (f" Not readable here (shared store absent): {dict(skipped)}." if skipped else "")
    )
    L.append(
        "Labels were written by reading each caption, and the figure too where an image exists. They were "
        "not taken from the classifier. `label` is the figure's dominant modality (the most panels, ties to "
        "the first panel). The rules were tuned on dev-split errors only; the held-out columns are the check."
    )
    L.append("")
    d, h = text["dev"], text["heldout"]
    di, hi = images["dev"], images["heldout"]

    def row(name: str, dev: str, held: str) -> None:
        L.append(f"| {name} | {dev} | {held} |")

    def acc(c: Confusion, key=lambda x: x) -> str:
        return f"{c.accuracy(key):.3f}"

    def pr(s: SetScores) -> str:
        p, r = s.micro()
        return f"{p:.3f} / {r:.3f}"

    L.append("| measurement | dev | held-out |")
    L.append("|---|---:|---:|")
    row("figures (caption only): exact code accuracy", f"{acc(d['fig'])} (n={d['n']})", f"{acc(h['fig'])} (n={h['n']})")
    row("figures (caption only): top-level group accuracy", acc(d["fig"], group_of), acc(h["fig"], group_of))
    row(f"figures (caption + citances; {d['ncit']}/{h['ncit']} figures have citances): exact",
        acc(d["figc"]), acc(h["figc"]))
    row("figure modality sets (union of panels): micro P / R", pr(d["sets"]), pr(h["sets"]))
    row("figure modality sets: exact set match", f"{d['sets'].exact / max(1, d['sets'].n):.3f}",
        f"{h['sets'].exact / max(1, h['sets'].n):.3f}")
    row("panels (subcaption + caption + panel citances): exact",
        f"{acc(d['pan'])} (n={len(d['pan'].pairs)})", f"{acc(h['pan'])} (n={len(h['pan'].pairs)})")
    row("panels: top-level group accuracy", acc(d["pan"], group_of), acc(h["pan"], group_of))
    row(f"captioned image panels (n={len(di['text'].pairs)} / {len(hi['text'].pairs)}): text only, exact",
        acc(di["text"]), acc(hi["text"]))
    row("captioned image panels: text + image cues, exact", acc(di["both"]), acc(hi["both"]))
    row(f"all image panels (n={di['n']} / {hi['n']}, incl. uncaptioned): image cues only, exact",
        acc(di["img"]), acc(hi["img"]))
    row("all image panels: image cues only, top-level group accuracy", acc(di["img"], group_of),
        acc(hi["img"], group_of))
    L.append("")
    L += class_table(d["fig"].per_class(), h["fig"].per_class(),
                     "Per class, figures, caption only (text), P = precision, R = recall")
    L.append("")
    L += class_table(d["pan"].per_class(), h["pan"].per_class(), "Per class, panels (text)")
    L.append("")
    ds = {k: tuple(v) for k, v in d["sets"].counts.items()}
    hs = {k: tuple(v) for k, v in h["sets"].counts.items()}
    L += class_table(ds, hs, "Per class, figure modality sets (a class counts once per figure)")
    L.append("")
    L += class_table(di["both"].per_class(), hi["both"].per_class(),
                     "Per class, captioned image panels, text + image cues")
    L.append("")
    L += class_table(di["img"].per_class(), hi["img"].per_class(),
                     "Per class, all image panels, image cues only (no text)")
    L.append("")
    L.append(f"Speed: {speed['n']} captions (mean {speed['mean_len']:.0f} characters), best of the rounds: "
             f"{speed['seconds'] * 1000:.0f} ms CPU = **{speed['per_s']:,.0f} captions/s per core** "
             f"(target ≥ 2,000). One 100 kB caption: {speed['big_ms']:.0f} ms (→ `{speed['big_code']}`; "
             "only the first 20,000 characters of each text are read).")
    L.append("")
    L.append(
        "Reading the numbers: most errors are figures of several kinds whose caption names the minority kind "
        "(\"Western blots … quantification\", \"H&E and immunostaining\"), and panels whose own words say "
        "nothing about the image (they fall back to the caption). Radiology, clinical photography, OCT, "
        "ECG/EEG, tables, flowcharts and screenshots have few or no examples in the open fixtures; "
        "`tests/test_modality.py` checks them on written captions instead. The image cues separate plots, "
        "greyscale scans/micrographs, fluorescence, H&E-like and photographic images only roughly. They "
        "cannot tell blots from charts, or radiographs from electron micrographs, and serve as a tie-breaker."
    )
    L.append("")
    return "\n".join(L)


def write_results(section: str) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    body = section.rstrip("\n") + "\n\n"
    if pattern.search(text):
        text = pattern.sub(lambda _: body, text)
    else:
        text = text.rstrip("\n") + "\n\n" + body
    RESULTS.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("FIGMINE_SHARED_FIXTURES", "/work/shared/fixtures")))
    ap.add_argument("--write-results", action="store_true")
    ap.add_argument("--errors", type=int, default=0, help="print up to N errors of the chosen split")
    ap.add_argument("--split", choices=("dev", "heldout"), default="dev", help="split whose errors are printed")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)

    items, skipped = load_items(args.shared)
    text = run_text(items)
    images = run_images(items, args.shared)
    speed = run_speed(items, args.rounds)
    cmd = "python bench/modality_bench.py" + (" --write-results" if args.write_results else "")
    section = report(items, skipped, text, images, speed, cmd)
    print(section)
    if args.errors:
        errs = text[args.split]["errors"] + images[args.split]["errors"]
        print(f"\n{len(errs)} errors ({args.split}); first {args.errors}:")
        for e in errs[: args.errors]:
            print(e)
    if args.write_results:
        write_results(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

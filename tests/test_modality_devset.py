"""The labelled modality dev set (tests/fixtures/modality/dev.jsonl): its integrity, its licences,
and regression floors for the classifier on it.

The captions stored in the file (CC BY / CC0 / public domain) are always scored. The other
collections are read from the shared fixture store when it is present, and skipped otherwise
(``FIGMINE_SHARED_FIXTURES`` overrides the path). Each floor sits a little below the score reached
when it was set (bench/RESULTS.md, section "Modality"). A regression fails; small rule changes do
not.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections import Counter
from pathlib import Path

import pytest

from captions.modality import taxonomy

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "tests/fixtures/modality/dev.jsonl"
SOURCES = ROOT / "tests/fixtures/modality/SOURCES.md"
COPYABLE = {"CC BY", "CC0", "PD"}


def _bench():
    spec = importlib.util.spec_from_file_location("modality_bench", ROOT / "bench/modality_bench.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("modality_bench", mod)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


bench = _bench()
SHARED = Path(os.environ.get("FIGMINE_SHARED_FIXTURES", "/work/shared/fixtures"))
RECORDS = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_dev_set_records_are_well_formed():
    codes = {d.code for d in taxonomy()}
    keys = set()
    for r in RECORDS:
        where = f"{r.get('source')}#{r.get('figure_id')}"
        assert {"collection", "source", "figure_id", "caption", "label", "labels", "licence"} <= set(r), where
        assert r["label"] in codes, f"{where}: unknown label {r['label']}"
        assert r["label"] in r["labels"], f"{where}: label missing from labels"
        assert set(r["labels"]) <= codes, f"{where}: unknown codes in labels {r['labels']}"
        panels = r.get("panel_labels") or {}
        assert set(panels.values()) <= set(r["labels"]), f"{where}: panel codes missing from labels"
        keys.add((r["source"], r["figure_id"]))
    assert len(keys) == len(RECORDS), "duplicate (source, figure_id) records"


def test_dev_set_is_large_enough_and_varied():
    with_text = [r for r in RECORDS if r["caption"]]
    assert len(RECORDS) >= 150 and len(with_text) >= 150, (len(RECORDS), len(with_text))
    labels = Counter(r["label"] for r in RECORDS)
    assert len(labels) >= 15, f"too few classes: {labels}"
    assert sum(len(r.get("panel_labels") or {}) for r in RECORDS) >= 500


def test_only_openly_licensed_captions_are_stored():
    sources_md = SOURCES.read_text(encoding="utf-8")
    for r in RECORDS:
        if r["caption"] is None:
            assert r["collection"] not in ("nxml", "package"), f"{r['figure_id']}: JATS caption missing"
            continue
        assert r["licence"] in COPYABLE, f"{r['source']}#{r['figure_id']}: licence {r['licence']} forbids copying"
        assert f"`{r['source']}`" in sources_md, f"{r['source']} is not listed in tests/fixtures/modality/SOURCES.md"


def test_split_is_deterministic_and_by_article():
    again = [bench.heldout(r) for r in RECORDS]
    assert again == [bench.heldout(r) for r in RECORDS]
    held = sum(again)
    assert 0.15 * len(RECORDS) <= held <= 0.4 * len(RECORDS), f"held-out share off: {held}/{len(RECORDS)}"
    by_article: dict[str, set[bool]] = {}
    for r, h in zip(RECORDS, again):
        by_article.setdefault(bench.article_key(r), set()).add(h)
    assert all(len(v) == 1 for v in by_article.values()), "an article straddles dev and held-out"


@pytest.mark.skipif(not (SHARED / "nxml").exists(), reason="shared JATS fixtures absent")
def test_stored_captions_come_from_their_source_figure():
    # The captions were copied from harvester.jats output; later changes to the text clean-up may
    # alter spacing or symbols, so the check is a near match, not identity.
    from difflib import SequenceMatcher

    from harvester.jats import parse_jats

    def norm(t: str) -> str:
        return " ".join(t.split())

    by_source: dict[str, list[dict]] = {}
    for r in RECORDS:
        if r["collection"] == "nxml":
            by_source.setdefault(r["source"], []).append(r)
    for source, recs in by_source.items():
        figs = {f.jats_id: f.caption_text for a in parse_jats((SHARED / source).read_bytes()) for f in a.figures}
        for r in recs:
            assert r["figure_id"] in figs, f"{source}: no figure {r['figure_id']}"
            ratio = SequenceMatcher(None, norm(figs[r["figure_id"]]), norm(r["caption"]), autojunk=False).ratio()
            assert ratio >= 0.9, f"{source}#{r['figure_id']}: stored caption differs from the source ({ratio:.2f})"


def _scores(shared: Path):
    items, _ = bench.load_items(shared)
    return bench.run_text(items)


def test_floors_on_the_stored_captions():
    res = _scores(Path("/nonexistent"))  # only the captions stored in dev.jsonl
    d, h = res["dev"], res["heldout"]
    assert d["n"] + h["n"] == sum(1 for r in RECORDS if r["caption"])
    checks = [
        ("dev figure exact", d["fig"].accuracy(), 0.74),
        ("held-out figure exact", h["fig"].accuracy(), 0.76),
        ("dev figure group", d["fig"].accuracy(bench.group_of), 0.83),
        ("held-out figure group", h["fig"].accuracy(bench.group_of), 0.84),
        ("dev panel exact", d["pan"].accuracy(), 0.76),
        ("held-out panel exact", h["pan"].accuracy(), 0.70),
    ]
    low = [f"{name} {got:.3f} < {floor}" for name, got, floor in checks if got < floor]
    assert not low, "modality accuracy fell: " + "; ".join(low)


@pytest.mark.skipif(not (SHARED / "subcaptions").exists(), reason="shared fixture store absent")
def test_floors_on_the_whole_dev_set():
    res = _scores(SHARED)
    d, h = res["dev"], res["heldout"]
    checks = [
        ("dev figure exact", d["fig"].accuracy(), 0.73),
        ("held-out figure exact", h["fig"].accuracy(), 0.75),
        ("dev panel exact", d["pan"].accuracy(), 0.75),
        ("held-out panel exact", h["pan"].accuracy(), 0.80),
        ("dev set micro precision", d["sets"].micro()[0], 0.79),
        ("dev set micro recall", d["sets"].micro()[1], 0.78),
    ]
    low = [f"{name} {got:.3f} < {floor}" for name, got, floor in checks if got < floor]
    assert not low, "modality accuracy fell: " + "; ".join(low)

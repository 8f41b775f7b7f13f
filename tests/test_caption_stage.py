"""The caption stage on real ingested articles in PostgreSQL: concept mentions of captions,
subcaptions and citances, citances tied to the panels they name, a modality per panel with image
cues, idempotent reruns, and bad input that never stops a batch."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update
from typer.testing import CliRunner

import captions.concepts
from captions.concepts import ConceptTagger, Mention
from captions.modality import PanelTexts, classify
from captions.nlp import NlpConfig
from figmine.cli import app
from pipeline import caption_stage
from pipeline.caption_stage import annotate_pending
from store.models import (
    Article,
    Citance,
    CitanceFigure,
    CitanceSubfigure,
    Concept,
    ConceptMention,
    Figure,
    Modality,
    Subcaption,
    Subfigure,
)

FIXTURES = Path(__file__).parent / "fixtures"
PACKAGES = FIXTURES / "packages"
NXML = FIXTURES / "nxml"


@pytest.fixture(scope="session")
def tagger(request, tmp_path_factory) -> ConceptTagger:
    """The offline tagger; its KB index is cached in pytest's cache folder (built on the first run)."""
    try:
        kb_dir = Path(request.config.cache.mkdir("figmine-kb"))
    except AttributeError:  # cacheprovider disabled
        kb_dir = tmp_path_factory.mktemp("figmine-kb")
    return ConceptTagger(NlpConfig(kb_dir=kb_dir))


@pytest.fixture
def env(figmine_env, tagger, monkeypatch):
    """figmine's settings on the test database; the CLI's caption stage uses the session's tagger."""
    monkeypatch.setattr(captions.concepts, "get_tagger", lambda: tagger)
    from figmine.settings import get_settings
    from store.blobs import open_blob_store
    from store.db import session_factory

    return {"factory": session_factory(), "blobs": open_blob_store(get_settings().blob_location),
            "url": figmine_env["url"], "tagger": tagger}


def ingest(*args: str) -> None:
    result = CliRunner().invoke(app, ["ingest", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def figure_of(session, pmcid: str, ordinal: int) -> Figure:
    return session.scalars(select(Figure).join(Article).where(Article.pmcid == pmcid, Figure.ordinal == ordinal)).one()


def add_panels(factory) -> dict:
    """Figure 2 of PMC2924383 (465×783: (A) a psychometric plot over (B) a bar chart; one citance
    names "Figure 2A", another "Fig. 2b") split into its two panels, subcaptions aligned, as the
    detection stage stores them."""
    with factory.begin() as s:
        figure = figure_of(s, "PMC2924383", 1)
        a = Subfigure(figure_id=figure.id, ordinal=0, x1=0, y1=0, x2=465, y2=390, label="A", method="yolo")
        b = Subfigure(figure_id=figure.id, ordinal=1, x1=0, y1=390, x2=465, y2=783, label=None, method="xycut")
        s.add_all([a, b])
        s.flush()
        subs = s.scalars(select(Subcaption).where(Subcaption.figure_id == figure.id).order_by(Subcaption.ordinal)).all()
        assert [x.label for x in subs] == ["A", "B"]
        subs[0].subfigure_id, subs[1].subfigure_id = a.id, b.id  # B by reading order: the detector read no letter
        figure.detected_at, figure.n_panels, figure.is_compound = datetime.now(timezone.utc), 2, True
        return {"figure": figure.id, "a": a.id, "b": b.id, "sub_a": subs[0].id, "sub_b": subs[1].id}


def mention_rows(session) -> list[tuple]:
    return sorted(session.execute(
        select(ConceptMention.figure_id, ConceptMention.field, ConceptMention.subcaption_id, ConceptMention.citance_id,
               ConceptMention.subfigure_id, ConceptMention.start, ConceptMention.end, ConceptMention.text,
               Concept.vocab, Concept.code, ConceptMention.score)
        .join(Concept, Concept.id == ConceptMention.concept_id)
    ).all())


# -- on real articles ----------------------------------------------------------------------------------
def test_concepts_panel_citances_and_panel_modalities_on_real_figures(env):
    ingest("--no-detect", "--no-concepts", str(PACKAGES), str(NXML / "plos" / "journal.pone.0005723.xml"))
    panels = add_panels(env["factory"])
    with env["factory"]() as s:
        total = s.scalar(select(func.count(Figure.id)))
        assert s.scalar(select(func.count(Figure.id)).where(Figure.annotated_at.is_not(None))) == 0, \
            "--no-concepts leaves every figure pending"

    summary = annotate_pending(env["factory"], env["blobs"], env["tagger"], batch_size=4)
    assert (summary.figures, summary.errors, summary.skipped) == (total, 0, 0), summary
    assert summary.mentions > 50 and summary.panels == 2 and summary.citance_links == 2

    with env["factory"]() as s:
        assert s.scalar(select(func.count(Figure.id)).where(Figure.annotated_at.is_(None))) == 0
        assert s.scalar(select(func.count(Figure.id)).where(Figure.annotation_error.is_not(None))) == 0
        # every span indexes the text it was found in
        sources = {
            "caption": dict(s.execute(select(Figure.id, Figure.caption_text)).all()),
            "subcaption": dict(s.execute(select(Subcaption.id, Subcaption.text)).all()),
            "citance": dict(s.execute(select(Citance.id, Citance.text)).all()),
        }
        rows = mention_rows(s)
        assert {r.field for r in rows} == {"caption", "subcaption", "citance"}
        for r in rows:
            key = {"caption": r.figure_id, "subcaption": r.subcaption_id, "citance": r.citance_id}[r.field]
            assert sources[r.field][key][r.start:r.end] == r.text, r
            assert r.vocab in {"MSH", "UMLS"} and r.score is not None and 0 < r.score <= 1

        # the subcaption of panel A is about motion perception; its mention belongs to the panel
        a_mentions = [r for r in rows if r.subcaption_id == panels["sub_a"]]
        assert ("motion perception", "D009039", panels["a"]) in {(r.text, r.code, r.subfigure_id) for r in a_mentions}
        # a UMLS modality concept with its semantic type (micro-CT figure of journal.pone.0005723)
        ct = s.execute(select(Concept).where(Concept.vocab == "UMLS", Concept.code == "C0040405")).scalar_one()
        assert ct.semantic_types == ["T060"] and ct.name == "X-Ray Computed Tomography"

        # "Figure 2A" → panel A (the detector's letter); "Fig. 2b" → panel B (the aligned subcaption's letter)
        links = s.execute(
            select(CitanceFigure.panels, CitanceSubfigure.subfigure_id)
            .join(CitanceSubfigure, CitanceSubfigure.citance_id == CitanceFigure.citance_id)
            .where(CitanceFigure.figure_id == panels["figure"])
        ).all()
        assert {(tuple(p), sub) for p, sub in links} == {(("A",), panels["a"]), (("B",), panels["b"])}

        # a modality per panel, with the image cues of its crop among the evidence
        codes = dict(s.execute(select(Modality.id, Modality.code)).all())
        subs = s.execute(select(Subfigure).where(Subfigure.figure_id == panels["figure"]).order_by(Subfigure.ordinal))
        subs = subs.scalars().all()
        assert [codes[p.modality_id] for p in subs] == ["graphics.chart", "graphics.chart"]
        for p in subs:
            assert 0 < p.modality_score <= 1 and any(e.startswith("image:") for e in p.modality_evidence), \
                p.modality_evidence
        figure = s.get(Figure, panels["figure"])
        assert figure.modalities == ["graphics.chart"] and codes[figure.modality_id] == "graphics.chart"
        assert figure.modality_evidence[0] == "panels: 2 of 2 are graphics.chart"

        # a figure without panels keeps a modality of its own, from its caption and citances
        lone = figure_of(s, "PMC2924383", 0)
        cited = s.scalars(select(Citance.text).join(CitanceFigure).where(CitanceFigure.figure_id == lone.id)).all()
        expected = classify(PanelTexts(None, lone.caption_text, tuple(cited)))
        assert codes[lone.modality_id] == expected.code and lone.modalities == [expected.code]
        assert lone.modality_evidence == expected.evidence and lone.modality_score == expected.confidence


def test_reruns_replace_and_new_detections_are_annotated_again(env):
    ingest("--no-detect", "--no-concepts", str(PACKAGES))
    panels = add_panels(env["factory"])
    first = annotate_pending(env["factory"], env["blobs"], env["tagger"])
    with env["factory"]() as s:
        before, n_concepts = mention_rows(s), s.scalar(select(func.count(Concept.id)))
        n_links = s.scalar(select(func.count()).select_from(CitanceSubfigure))
    assert before and first.errors == 0

    assert annotate_pending(env["factory"], env["blobs"], env["tagger"]).figures == 0, "nothing is pending"
    with env["factory"].begin() as s:
        s.execute(update(Figure).values(annotated_at=None))
    again = annotate_pending(env["factory"], env["blobs"], env["tagger"])
    assert again.figures == first.figures and again.mentions == first.mentions
    with env["factory"]() as s:
        assert mention_rows(s) == before, "a rerun replaces the mentions, never adds to them"
        assert s.scalar(select(func.count(Concept.id))) == n_concepts
        assert s.scalar(select(func.count()).select_from(CitanceSubfigure)) == n_links

    # detection ran again on one figure: only that one is pending
    with env["factory"].begin() as s:
        s.execute(update(Figure).where(Figure.id == panels["figure"]).values(detected_at=func.now()))
    redo = annotate_pending(env["factory"], env["blobs"], env["tagger"])
    assert redo.figures == 1 and redo.panels == 2


def test_article_ids_and_limit_restrict_the_work(env):
    ingest("--no-detect", "--no-concepts", str(PACKAGES))
    with env["factory"]() as s:
        article = s.scalar(select(Article.id).where(Article.pmcid == "PMC2924383"))
        n = s.scalar(select(func.count(Figure.id)).where(Figure.article_id == article))
    done = annotate_pending(env["factory"], env["blobs"], env["tagger"], article_ids=[article], batch_size=3)
    assert done.figures == n == 4
    with env["factory"]() as s:
        annotated = s.scalars(select(Figure.article_id).where(Figure.annotated_at.is_not(None))).all()
    assert set(annotated) == {article}
    progress = []
    limited = annotate_pending(env["factory"], env["blobs"], env["tagger"], limit=3, batch_size=2,
                               on_progress=lambda s: progress.append(s.figures))
    assert limited.figures == 3 and progress == [2, 3]


# -- the CLI, the export and the API -------------------------------------------------------------------
def test_ingest_runs_the_stage_after_detection_and_exports_show_panel_text(env, tmp_path):
    ingest(str(PACKAGES))  # detection and the caption stage, as `figmine ingest` runs them by default
    with env["factory"]() as s:
        assert s.scalar(select(func.count(Figure.id)).where(caption_stage.pending_condition())) == 0
        assert s.scalar(select(func.count(ConceptMention.id)).where(ConceptMention.field == "citance")) > 0
        n_panels = s.scalar(select(func.count(Subfigure.id)))
        assert n_panels > 0
        assert s.scalar(select(func.count(Subfigure.id)).where(Subfigure.modality_id.is_(None))) == 0, \
            "every detected panel has a modality"
        for modalities, panel_codes in s.execute(text(
            "SELECT f.modalities, array_agg(DISTINCT m.code) FROM figures f JOIN subfigures p ON p.figure_id = f.id "
            "JOIN modalities m ON m.id = p.modality_id GROUP BY f.id"
        )).all():
            assert set(modalities) == set(panel_codes) - ({"other"} if set(panel_codes) != {"other"} else set())

    out = tmp_path / "figs.jsonl"
    result = CliRunner().invoke(app, ["export", "--format", "jsonl", "--out", str(out), "--no-images"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    entries = [p for r in records for p in r["subfigures"]]
    assert len(entries) == n_panels
    for entry in entries:
        assert {"box", "label", "score", "subcaption", "full_text", "citances", "concepts", "modality"} <= entry.keys()
        assert entry["modality"] is not None
    with_text = [e for e in entries if e["subcaption"]]
    assert with_text and all(e["full_text"] and e["subcaption"] in e["full_text"] for e in with_text)
    assert any(e["citances"] for e in entries) and any(e["concepts"] for e in entries)
    for record in (r for r in records if r["subfigures"]):
        panel_codes = {e["modality"] for e in record["subfigures"]}
        assert set(record["modalities"]) == (panel_codes - {"other"} or panel_codes), record["figure_id"]


def test_figure_detail_shows_each_panels_text(env):
    from fastapi.testclient import TestClient

    from api.app import create_app

    ingest("--no-detect", "--no-concepts", str(PACKAGES))
    panels = add_panels(env["factory"])
    annotate_pending(env["factory"], env["blobs"], env["tagger"])
    with TestClient(create_app()) as client:
        body = client.get(f"/figures/{panels['figure']}").json()
    assert body["modalities"] == ["graphics.chart"] and body["annotated_at"]
    a, b = body["subfigures"]
    assert a["subcaption"].startswith("The proportion of rightward motion perception")
    assert a["full_text"].startswith("Sound-contingent visual motion aftereffects. The proportion")
    assert [c["panels"] for c in a["citances"]] == [["A"]] and [c["panels"] for c in b["citances"]] == [["B"]]
    assert "Motion Perception" in {c["name"] for c in a["concepts"]}
    assert a["modality"]["code"] == "graphics.chart" and a["modality"]["evidence"]
    assert b["subcaption"].startswith("The points of subjective stationarity")


def test_no_detect_still_annotates_figure_text_and_no_concepts_leaves_it_pending(env):
    ingest("--no-detect", "--no-concepts", str(PACKAGES))
    with env["factory"]() as s:
        assert s.scalar(select(func.count(Figure.id)).where(Figure.annotated_at.is_(None))) == \
            s.scalar(select(func.count(Figure.id))) > 0
    ingest("--no-detect", str(NXML / "plos" / "journal.pone.0005723.xml"))  # the stage takes what is pending
    with env["factory"]() as s:
        assert s.scalar(select(func.count(Figure.id)).where(Figure.annotated_at.is_(None))) == 0
        assert s.scalar(select(func.count(Subfigure.id))) == 0
        assert s.scalar(select(func.count(ConceptMention.id)).where(ConceptMention.field == "caption")) > 0
        # without panels, a figure's modalities are those its subcaptions (or sentences) name: never
        # none, and more than one for the mixed figures of this article (issue 14, failure class 1)
        assert s.scalar(select(func.count(Figure.id)).where(func.cardinality(Figure.modalities) >= 1)) == \
            s.scalar(select(func.count(Figure.id)))
        assert s.scalar(select(func.count(Figure.id)).where(func.cardinality(Figure.modalities) > 1)) > 0


# -- bad input -----------------------------------------------------------------------------------------
BAD_CAPTIONS = {
    "empty": "",
    "huge": "(A) Confocal microscopy of HeLa cells stained for tubulin (TUB). (B) Western blot. " * 1250,  # ~100 kB
    "chinese": "(A) 小鼠肝脏的苏木精-伊红染色切片。(B) 计算机断层扫描图像显示肺部病变。比例尺：50 微米。",
    "russian": "Рисунок. (А) МРТ головного мозга. (Б) Компьютерная томография грудной клетки.",
    "markup": "<p>(A) <bold>CT</bold> of the <italic>liver</italic> &lt;script&gt;alert(1)&lt;/script&gt; "
              "<xref ref-type='bibr' rid='b1'>[1]</xref> ((((((((( [[[ {{{ <<<< >>>> &amp;&amp; "
              "<sup>2+</sup> Ca<sub>2</sub> (B) H&amp;E staining</p>" + "(" * 3000,
    "control": "(A) MRI\x07\x1b[31m of the brain\u200b\u202e (B) X-ray \ufffd\ufffd",
}


def jats_with(captions: dict[str, str]) -> bytes:
    """A JATS article with one figure per caption (the caption's text in the XML, escaped) and a
    sentence citing panel A of each."""
    from xml.sax.saxutils import escape

    figs = "".join(f'<fig id="{k}"><label>Figure {i + 1}</label><caption><p>{escape(v)}</p></caption></fig>'
                   for i, (k, v) in enumerate(captions.items()))
    cites = " ".join(f'Result {i} is in <xref ref-type="fig" rid="{k}">Figure {i + 1}A</xref>.'
                     for i, k in enumerate(captions))
    return (
        '<?xml version="1.0"?><article article-type="research-article"><front><article-meta>'
        '<article-id pub-id-type="doi">10.9999/figmine.bad-input</article-id>'
        '<title-group><article-title>Bad captions</article-title></title-group></article-meta></front>'
        f'<body><sec><title>Results</title><p>{cites}</p></sec>{figs}</body></article>'
    ).encode()


def test_bad_captions_get_a_result_and_never_stop_the_batch(env, tmp_path):
    path = tmp_path / "bad.nxml"
    path.write_bytes(jats_with({k: v.replace("\x07", "").replace("\x1b", "") for k, v in BAD_CAPTIONS.items()}))
    ingest("--no-detect", "--no-concepts", str(path))
    with env["factory"].begin() as s:
        by_id = {f.jats_id: f for f in s.scalars(select(Figure)).all()}
        assert set(by_id) == set(BAD_CAPTIONS)
        assert len(by_id["huge"].caption_text) > 100_000
        # the raw strings, markup and control characters included, as a careless source would store them
        for key in ("markup", "control"):
            by_id[key].caption_text = BAD_CAPTIONS[key]
        ids = {k: f.id for k, f in by_id.items()}
    summary = annotate_pending(env["factory"], env["blobs"], env["tagger"])
    assert (summary.figures, summary.errors) == (len(BAD_CAPTIONS), 0), summary.failures
    with env["factory"]() as s:
        figures = {f.id: f for f in s.scalars(select(Figure)).all()}
        codes = dict(s.execute(select(Modality.id, Modality.code)).all())
        rows = mention_rows(s)
    for key, figure_id in ids.items():
        figure = figures[figure_id]
        assert figure.annotated_at is not None and figure.annotation_error is None, key
        assert figure.modality_id is not None and figure.modalities, key
        for r in rows:
            if r.figure_id == figure_id and r.field == "caption":
                assert figure.caption_text[r.start:r.end] == r.text, (key, r)
    assert codes[figures[ids["empty"]].modality_id] == "other"
    assert not [r for r in rows if r.figure_id == ids["empty"] and r.field == "caption"]
    huge = {r.code for r in rows if r.figure_id == ids["huge"] and r.field == "caption"}
    assert "D018613" in huge, "confocal microscopy is found in the 100 kB caption"  # Microscopy, Confocal
    markup = [r for r in rows if r.figure_id == ids["markup"] and r.field == "caption"]
    assert any(r.text == "liver" for r in markup), "words inside tags are tagged, spans point into the raw text"


class FlakyTagger:
    """The real tagger, except that it raises on texts containing `poison` (and on any batch holding
    one), as a pipeline bug triggered by one text would."""

    def __init__(self, tagger, poison: str):
        self.tagger, self.poison, self.calls = tagger, poison, 0

    def tag(self, texts):
        self.calls += 1
        if any(self.poison in (t or "") for t in texts):
            raise RuntimeError("tokenizer exploded")
        return self.tagger.tag(texts)


class BadSpanTagger:
    """Gives one figure's caption a mention outside its text, a concept with an overlong code."""

    def __init__(self, tagger, marker: str):
        self.tagger, self.marker = tagger, marker

    def tag(self, texts):
        out = self.tagger.tag(texts)
        for i, t in enumerate(texts):
            if self.marker in t:
                out[i] = [*out[i], Mention("MSH", "D" + "9" * 60, "Nothing", (), 0, len(t) + 5, "x", 1.0)]
        return out


def test_a_text_that_breaks_the_tagger_costs_only_its_figure(env):
    ingest("--no-detect", "--no-concepts", str(PACKAGES))
    with env["factory"]() as s:
        victim = figure_of(s, "PMC2924383", 1)
        others = s.scalar(select(func.count(Figure.id))) - 1
    flaky = FlakyTagger(env["tagger"], "Sound-contingent visual motion aftereffects")
    summary = annotate_pending(env["factory"], env["blobs"], flaky, batch_size=64)
    assert summary.figures == others + 1 and summary.errors == 1
    assert summary.failures[0][0] == victim.id and "tokenizer exploded" in summary.failures[0][1]
    tagged = select(ConceptMention.figure_id, func.count()).group_by(ConceptMention.figure_id)
    with env["factory"]() as s:
        broken = s.get(Figure, victim.id)
        assert broken.annotated_at is not None
        assert "concepts: RuntimeError: tokenizer exploded" in broken.annotation_error
        assert broken.modality_id is not None, "its modality is still assigned"
        with_flaky = dict(s.execute(tagged).all())
    assert victim.id not in with_flaky
    with env["factory"].begin() as s:
        s.execute(update(Figure).values(annotated_at=None, annotation_error=None))
    assert annotate_pending(env["factory"], env["blobs"], env["tagger"]).errors == 0
    with env["factory"]() as s:
        clean = dict(s.execute(tagged).all())
    assert with_flaky == {k: v for k, v in clean.items() if k != victim.id}, \
        "the other figures of the batch were tagged as without the failure"


def test_a_bad_mention_or_a_failing_write_costs_only_its_figure(env, monkeypatch):
    ingest("--no-detect", "--no-concepts", str(PACKAGES))
    with env["factory"]() as s:
        victim = figure_of(s, "PMC2924383", 1).id
        second = figure_of(s, "PMC2924383", 2).id
        total = s.scalar(select(func.count(Figure.id)))
    real_write = caption_stage._write_many

    def write(session, works, *args):
        if second in {w.id for w in works}:
            session.execute(text("SELECT 1/0"))  # the database refuses something about this figure
        return real_write(session, works, *args)

    monkeypatch.setattr(caption_stage, "_write_many", write)
    tagger = BadSpanTagger(env["tagger"], "Sound-contingent visual motion aftereffects")
    summary = annotate_pending(env["factory"], env["blobs"], tagger)
    assert summary.figures == total and summary.errors == 2
    with env["factory"]() as s:
        errors = dict(s.execute(
            select(Figure.id, Figure.annotation_error).where(Figure.annotation_error.is_not(None))
        ).all())
        assert set(errors) == {victim, second}
        assert "outside its caption" in errors[victim]
        assert errors[second].startswith("store: ") and "division by zero" in errors[second]
        assert s.scalar(select(func.count(Figure.id)).where(Figure.annotated_at.is_(None))) == 0
        assert s.scalar(select(func.count(ConceptMention.id)).where(ConceptMention.figure_id == second)) == 0
        assert s.scalar(select(func.count(ConceptMention.id)).where(
            ConceptMention.figure_id.not_in([victim, second]))) > 0


def test_an_unreadable_image_leaves_the_panels_their_text(env):
    ingest("--no-detect", "--no-concepts", str(PACKAGES))
    panels = add_panels(env["factory"])
    with env["factory"].begin() as s:
        s.execute(update(Figure).where(Figure.id == panels["figure"]).values(image_key="sha256/00/missing.jpg"))
    summary = annotate_pending(env["factory"], env["blobs"], env["tagger"])
    assert summary.errors == 0 and summary.panels == 2
    with env["factory"]() as s:
        for p in s.scalars(select(Subfigure).where(Subfigure.figure_id == panels["figure"])).all():
            assert p.modality_id is not None and not any(e.startswith("image:") for e in p.modality_evidence)

"""The caption stage: concepts, panel modalities and panel citances for stored figures.

Runs after detection (`pipeline.detect_stage`) over every figure that is not annotated yet, or was
annotated before its latest detection, a batch at a time in figure-id order, one transaction per
batch. For each figure of a batch:

- concepts: its caption, its subcaptions' own words and the sentences citing it are tagged in one
  `tagger.tag` call for the whole batch (spaCy's `nlp.pipe` inside; scispaCy's abbreviation detector
  expands abbreviations before linking). Each mention is stored with its concept (vocabulary MSH or
  UMLS, id, name, semantic types where the KB has them), score, character span in its text, the
  text's kind (`field`: caption | subcaption | citance) and, for a subcaption aligned with a panel,
  the panel. A figure's mentions are replaced, never added to, so running again gives the same rows.
- panel citances: a sentence citing "Fig. 2B" is tied to the panel whose label is B (the label the
  detector read, else the label of the subcaption aligned with the panel) in `citance_subfigures`.
- modality per panel (`captions.modality.classify`) from its subcaption, the caption and the
  sentences naming the panel, plus cheap image cues (`captions.image_cues`) measured on the panel's
  crop of the figure image, with the confidence and the evidence. The figure's `modalities` are the
  set of its panels' codes and its `modality_id` the commonest of them. A figure without panels gets
  the set of its subcaptions' modalities (else of its caption's sentences, `classify_figure`) and the
  commonest as its own, with the evidence.

Whatever goes wrong with one figure (a text the tagger cannot take, an undecodable image, a row the
database refuses) is written to that figure's `annotation_error` and the batch goes on. A figure
that was deleted (its article re-stored) or detected again while its batch was being worked on is
left for the next run; one that another run (a second `figmine ingest`, another worker) annotated
meanwhile is left as that run wrote it. Both are decided under the figure's row lock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from sqlalchemy import BigInteger, String, and_, any_, bindparam, delete, insert, literal, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, sessionmaker

from captions.modality import ModalityResult, PanelTexts, classify, classify_figure, dominant, figure_modalities
from store.blobs import BlobStore
from store.figure_records import PanelText, panel_texts
from store.models import (
    Citance,
    CitanceFigure,
    CitanceSubfigure,
    Concept,
    ConceptMention,
    Figure,
    Subcaption,
    Subfigure,
)

log = logging.getLogger(__name__)

MAX_FAILURES = 100  # failures kept in the summary (every one is in figures.annotation_error)
MAX_ERROR_CHARS = 2000


class Tagger(Protocol):
    def tag(self, texts: Sequence[str | None]) -> list[list]: ...  # `captions.concepts.Mention`s per text


@dataclass
class AnnotateSummary:
    figures: int = 0  # figures handled (annotated, or marked with their error)
    texts: int = 0  # texts tagged (captions, subcaptions, citances)
    mentions: int = 0  # concept mentions stored
    panels: int = 0  # panels given a modality
    citance_links: int = 0  # citance ↔ panel links stored
    errors: int = 0
    skipped: int = 0  # deleted or detected again meanwhile (left for the next run), or annotated by another run
    failures: list[tuple[int, str]] = field(default_factory=list)  # (figure id, reason), the first ones
    seconds: float = 0.0

    def fail(self, figure_id: int, reason: str) -> None:
        self.errors += 1
        if len(self.failures) < MAX_FAILURES:
            self.failures.append((figure_id, reason))


# -- what a batch reads ----------------------------------------------------------------------------
@dataclass
class _Panel:
    id: int
    ordinal: int
    label: str | None
    box: tuple[int, int, int, int]


@dataclass
class _Sub:
    id: int
    subfigure_id: int | None
    label: str | None
    text: str


@dataclass
class _Cited:
    id: int  # the citance's
    text: str
    panels: list[str]  # the panel letters it cites in this figure


@dataclass
class _Work:
    id: int
    caption: str
    image_key: str | None
    detected_at: datetime | None
    annotated_at: datetime | None
    panels: list[_Panel] = field(default_factory=list)
    subcaptions: list[_Sub] = field(default_factory=list)
    citances: list[_Cited] = field(default_factory=list)


# -- what a batch writes ---------------------------------------------------------------------------
@dataclass
class _Result:
    mentions: list[dict] = field(default_factory=list)  # ConceptMention rows, "concept" = (vocab, code)
    concepts: dict[tuple[str, str], dict] = field(default_factory=dict)
    links: list[tuple[int, int]] = field(default_factory=list)  # (citance id, subfigure id)
    panel_modalities: list[tuple[int, ModalityResult]] = field(default_factory=list)
    modality: ModalityResult | None = None
    modalities: list[str] = field(default_factory=list)
    error: str | None = None


def pending_condition():
    """Figures the stage has to (re)do: never annotated, or detected again since."""
    return or_(
        Figure.annotated_at.is_(None),
        and_(Figure.detected_at.is_not(None), Figure.annotated_at < Figure.detected_at),
    )


def annotate_pending(
    sessions: sessionmaker[Session],
    blobs: BlobStore | None,
    tagger: Tagger | None = None,
    *,
    batch_size: int = 64,
    limit: int | None = None,
    article_ids: Iterable[int] | None = None,
    on_progress: Callable[[AnnotateSummary], None] | None = None,
) -> AnnotateSummary:
    """Annotate the pending figures (of `article_ids` only, when given); see the module docstring.

    `tagger`: anything with `tag(texts) -> mentions per text` (default: the process's
    `captions.concepts.get_tagger()`, loaded on first use). `blobs`: where the figure images are
    (None: panels are classified from their text alone).
    """
    articles = sorted(set(article_ids)) if article_ids is not None else None
    summary = AnnotateSummary()
    started = time.perf_counter()
    last_id = 0
    while limit is None or summary.figures + summary.skipped < limit:
        size = batch_size if limit is None else min(batch_size, limit - summary.figures - summary.skipped)
        with sessions() as session:
            works = _load_batch(session, last_id, size, articles)
        if not works:
            break
        if tagger is None:  # loaded only when there is work: a second or so, and ~150 MB
            from captions.concepts import get_tagger

            tagger = get_tagger()
        last_id = works[-1].id
        results = _annotate(works, tagger, blobs, summary)
        with sessions.begin() as session:
            _store(session, works, results, summary)
        summary.seconds = time.perf_counter() - started
        if on_progress:
            on_progress(summary)
    summary.seconds = time.perf_counter() - started
    return summary


def _ids(ids: list[int]):
    return any_(literal(ids, ARRAY(BigInteger)))


def _load_batch(session: Session, after_id: int, size: int, article_ids: list[int] | None) -> list[_Work]:
    stmt = select(Figure.id, Figure.caption_text, Figure.image_key, Figure.detected_at, Figure.annotated_at).where(
        pending_condition(), Figure.id > after_id
    )
    if article_ids is not None:
        stmt = stmt.where(Figure.article_id == _ids(article_ids))
    rows = session.execute(stmt.order_by(Figure.id).limit(size)).all()
    works = {r.id: _Work(r.id, r.caption_text or "", r.image_key, r.detected_at, r.annotated_at) for r in rows}
    if not works:
        return []
    ids = list(works)
    for r in session.execute(
        select(Subfigure.figure_id, Subfigure.id, Subfigure.ordinal, Subfigure.label,
               Subfigure.x1, Subfigure.y1, Subfigure.x2, Subfigure.y2)
        .where(Subfigure.figure_id == _ids(ids)).order_by(Subfigure.figure_id, Subfigure.ordinal, Subfigure.id)
    ):
        works[r.figure_id].panels.append(_Panel(r.id, r.ordinal, r.label, (r.x1, r.y1, r.x2, r.y2)))
    for r in session.execute(
        select(Subcaption.figure_id, Subcaption.id, Subcaption.subfigure_id, Subcaption.label, Subcaption.text)
        .where(Subcaption.figure_id == _ids(ids)).order_by(Subcaption.figure_id, Subcaption.ordinal, Subcaption.id)
    ):
        works[r.figure_id].subcaptions.append(_Sub(r.id, r.subfigure_id, r.label, r.text or ""))
    for r in session.execute(
        select(CitanceFigure.figure_id, Citance.id, Citance.text, CitanceFigure.panels)
        .join(Citance, Citance.id == CitanceFigure.citance_id)
        .where(CitanceFigure.figure_id == _ids(ids))
        .order_by(CitanceFigure.figure_id, Citance.ordinal, Citance.id)
    ):
        works[r.figure_id].citances.append(_Cited(r.id, r.text or "", list(r.panels or [])))
    return list(works.values())


# -- the work, outside any transaction ---------------------------------------------------------------
def _annotate(
    works: list[_Work], tagger: Tagger, blobs: BlobStore | None, summary: AnnotateSummary
) -> dict[int, _Result]:
    results = {w.id: _Result() for w in works}
    _tag(works, tagger, results, summary)
    for work in works:
        result = results[work.id]
        try:
            texts = panel_texts(work.panels, work.subcaptions, work.citances, [], {})
            _link_citances(work, texts, result)
            _classify(work, blobs, texts, result)
        except Exception as exc:  # noqa: BLE001 - one figure's failure stays with that figure
            log.exception("figure %s: modality/citance work failed", work.id)
            result.error = _describe(result.error, f"modality: {type(exc).__name__}: {exc}")
    return results


def _texts_of(work: _Work) -> list[tuple[str, int | None, str]]:
    """(field, subcaption or citance id, text) of one figure."""
    out: list[tuple[str, int | None, str]] = [("caption", None, work.caption)]
    out += [("subcaption", s.id, s.text) for s in work.subcaptions]
    out += [("citance", c.id, c.text) for c in work.citances]
    return out


def _tag(works: list[_Work], tagger: Tagger, results: dict[int, _Result], summary: AnnotateSummary) -> None:
    """Tag every text of the batch in one call (a citance citing several figures once); should that
    call fail, each figure on its own, so that only the figure whose text breaks the tagger fails."""
    keys: dict[tuple[str, int | None, int], int] = {}  # (field, id, figure id unless a citance) → index
    texts: list[str] = []
    for work in works:
        for kind, ref, text in _texts_of(work):
            key = (kind, ref, 0 if kind == "citance" else work.id)
            if key not in keys:
                keys[key] = len(texts)
                texts.append(text)
    found_all: list[list] | None = None
    try:
        found_all = tagger.tag(texts)
        if len(found_all) != len(texts):
            raise RuntimeError(f"the tagger returned {len(found_all)} results for {len(texts)} texts")
        summary.texts += len(texts)
    except Exception:  # noqa: BLE001
        log.exception("concept tagging failed on a batch of %d texts; tagging figure by figure", len(texts))
        found_all = None
    for work in works:
        own = _texts_of(work)
        try:
            if found_all is not None:
                found = [found_all[keys[(k, r, 0 if k == "citance" else work.id)]] for k, r, _ in own]
            else:
                found = tagger.tag([t for _, _, t in own])
                if len(found) != len(own):
                    raise RuntimeError(f"the tagger returned {len(found)} results for {len(own)} texts")
                summary.texts += len(own)
            _add_mentions(work, results[work.id], found)
        except Exception as exc:  # noqa: BLE001
            log.exception("figure %s: concept tagging failed", work.id)
            results[work.id].mentions.clear()
            results[work.id].error = _describe(results[work.id].error, f"concepts: {type(exc).__name__}: {exc}")


def _add_mentions(work: _Work, result: _Result, found: list[list]) -> None:
    panel_of_subcaption = {s.id: s.subfigure_id for s in work.subcaptions}
    for (kind, ref, text), mentions in zip(_texts_of(work), found):
        for m in mentions:
            if not (0 <= m.start < m.end <= len(text)):
                raise ValueError(f"mention {m.code} has span {m.start}:{m.end} outside its {kind} "
                                 f"of {len(text)} characters")
            if len(m.vocab) > 16 or len(m.code) > 40 or any(len(t) > 16 for t in m.semantic_types):
                raise ValueError(f"concept {m.vocab}:{m.code[:50]} does not fit the concepts table")
            key = (m.vocab, m.code)
            result.concepts.setdefault(key, {"vocab": m.vocab, "code": m.code, "name": m.name,
                                             "semantic_types": list(m.semantic_types)})
            result.mentions.append({
                "concept": key,
                "figure_id": work.id,
                "subfigure_id": panel_of_subcaption.get(ref) if kind == "subcaption" else None,
                "subcaption_id": ref if kind == "subcaption" else None,
                "citance_id": ref if kind == "citance" else None,
                "field": kind,
                "start": m.start,
                "end": m.end,
                "text": text[m.start:m.end],
                "score": float(m.score) if m.score is not None else None,
            })


def _link_citances(work: _Work, texts: dict[int, PanelText], result: _Result) -> None:
    result.links = sorted({(c.id, panel_id) for panel_id, text in texts.items() for c in text.citances})


def _classify(work: _Work, blobs: BlobStore | None, texts: dict[int, PanelText], result: _Result) -> None:
    all_citances = tuple(c.text for c in work.citances)
    if not work.panels:
        # no detected panels (no image, or not detected yet): the subcaptions, else the caption's
        # sentences, still name every modality the figure shows (issue 14: mixed figures were
        # reduced to one label)
        subs = [(s.label, s.text) for s in work.subcaptions if s.label]
        fm = classify_figure(work.caption, citances=all_citances, subcaptions=subs)
        result.modality = fm.dominant
        result.modalities = fm.codes
        return
    picture = _picture(work, blobs)
    for panel in work.panels:
        text = texts[panel.id]
        cited = tuple(c.text for c in text.citances)
        if text.subcaption is not None:
            words = PanelTexts(text.subcaption.text, work.caption, cited)
        else:  # the panel has no words of its own: the whole caption speaks for it
            words = PanelTexts(None, work.caption, cited or all_citances)
        result.panel_modalities.append((panel.id, classify(words, _crop(picture, panel.box))))
    panel_results = [r for _, r in result.panel_modalities]
    result.modalities = figure_modalities(panel_results)
    result.modality = dominant(panel_results)


def _picture(work: _Work, blobs: BlobStore | None):
    """The figure's RGB picture and the original pixels per picture pixel (boxes are in original pixels;
    a very large figure comes decoded reduced), or None without a usable image."""
    if blobs is None or not work.image_key:
        return None
    from harvester.images import REDUCED_SIDE, load_image

    try:
        info = load_image(blobs.open(work.image_key), name=work.image_key, max_side=REDUCED_SIDE)
        return info.rgb, info.scale
    except Exception as exc:  # noqa: BLE001 - the panels are still classified from their text
        log.warning("figure %s: image unusable for modality cues: %s", work.id, exc)
        return None


def _crop(picture, box: tuple[int, int, int, int]):
    if picture is None:
        return None
    picture, scale = picture
    box = tuple(round(v / scale) for v in box)
    x1, y1, x2, y2 = max(0, box[0]), max(0, box[1]), min(picture.width, box[2]), min(picture.height, box[3])
    if x2 - x1 < 8 or y2 - y1 < 8:
        return None
    return picture.crop((x1, y1, x2, y2))


def _describe(previous: str | None, message: str) -> str:
    return (f"{previous}; {message}" if previous else message)[:MAX_ERROR_CHARS]


# -- storing, in the batch's transaction ---------------------------------------------------------------
def _store(session: Session, works: list[_Work], results: dict[int, _Result], summary: AnnotateSummary) -> None:
    """Write a batch: all its figures in one go; should the database refuse that, figure by figure
    (a savepoint each), so that only the figure it refuses is marked with the reason."""
    from store.modalities import ensure_taxonomy

    modality_ids = ensure_taxonomy(session)
    concept_ids = _concept_ids(session, [c for r in results.values() for c in r.concepts.values()])
    now = datetime.now(timezone.utc)
    current = {r.id: (r.detected_at, r.annotated_at) for r in session.execute(
        select(Figure.id, Figure.detected_at, Figure.annotated_at).where(Figure.id == _ids([w.id for w in works]))
        .order_by(Figure.id).with_for_update()
    )}
    # deleted (article stored again), or detected again: its panels are not the ones read (next run);
    # annotated by another run since it was read: that run's rows stand
    ready = [w for w in works if current.get(w.id) == (w.detected_at, w.annotated_at)]
    summary.skipped += len(works) - len(ready)
    stored: set[int] = set()
    try:
        with session.begin_nested():
            _write_many(session, ready, results, concept_ids, modality_ids, now)
        stored = {w.id for w in ready}
    except Exception:  # noqa: BLE001
        log.exception("storing a batch of %d figures failed; storing figure by figure", len(ready))
        for work in ready:
            try:
                with session.begin_nested():
                    _write_many(session, [work], results, concept_ids, modality_ids, now)
                stored.add(work.id)
            except Exception as exc:  # noqa: BLE001 - the figure is marked with the reason, the batch goes on
                log.exception("figure %s: storing its annotations failed", work.id)
                result = results[work.id]
                result.error = _describe(result.error, f"store: {type(exc).__name__}: {exc}")
                with session.begin_nested():
                    session.execute(update(Figure).where(Figure.id == work.id)
                                    .values(annotated_at=now, annotation_error=result.error))
    for work in ready:
        result = results[work.id]
        summary.figures += 1
        if result.error:
            summary.fail(work.id, result.error)
        if work.id in stored:
            summary.mentions += len(result.mentions)
            summary.panels += len(result.panel_modalities)
            summary.citance_links += len(result.links)


def _concept_ids(session: Session, concepts: list[dict]) -> dict[tuple[str, str], int]:
    """(vocab, code) → concepts.id, inserting the concepts not stored yet (sorted: concurrent batches
    take their row locks in the same order)."""
    unique = {(c["vocab"], c["code"]): c for c in concepts}
    if not unique:
        return {}
    rows = [unique[k] for k in sorted(unique)]
    session.execute(pg_insert(Concept).values(rows).on_conflict_do_nothing(index_elements=["vocab", "code"]))
    found = session.execute(
        select(Concept.vocab, Concept.code, Concept.id).where(tuple_(Concept.vocab, Concept.code).in_(list(unique)))
    ).all()
    return {(r.vocab, r.code): r.id for r in found}


def _write_many(session: Session, works: list[_Work], results: dict[int, _Result], concept_ids: dict,
                modality_ids: dict, now: datetime) -> None:
    """Replace the annotations of `works`: a few statements for the whole list (executemany)."""
    if not works:
        return
    ids = [w.id for w in works]
    session.execute(delete(ConceptMention).where(ConceptMention.figure_id == _ids(ids)))
    panel_ids = [p.id for w in works for p in w.panels]
    if panel_ids:
        session.execute(delete(CitanceSubfigure).where(CitanceSubfigure.subfigure_id == _ids(panel_ids)))
    mentions = [
        {**{k: v for k, v in m.items() if k != "concept"}, "concept_id": concept_ids[m["concept"]]}
        for w in works for m in results[w.id].mentions
    ]
    if mentions:
        session.execute(insert(ConceptMention.__table__), mentions)
    links = [{"citance_id": c, "subfigure_id": p} for w in works for c, p in results[w.id].links]
    if links:
        session.execute(insert(CitanceSubfigure.__table__), links)
    panels = [
        {"b_pid": panel_id, "b_mid": modality_ids.get(r.code), "b_score": r.confidence,
         "b_evidence": list(r.evidence)}
        for w in works for panel_id, r in results[w.id].panel_modalities
    ]
    table = Subfigure.__table__
    if panels:
        session.execute(
            update(table).where(table.c.id == bindparam("b_pid"))
            .values(modality_id=bindparam("b_mid"), modality_score=bindparam("b_score"),
                    modality_evidence=bindparam("b_evidence", type_=JSONB)),
            panels,
        )
    figures = Figure.__table__
    classified = [w for w in works if results[w.id].modality is not None]
    if classified:
        session.execute(
            update(figures).where(figures.c.id == bindparam("b_fid"))
            .values(annotated_at=now, annotation_error=bindparam("b_error"), modality_id=bindparam("b_mid"),
                    modality_score=bindparam("b_score"), modality_evidence=bindparam("b_evidence", type_=JSONB),
                    modalities=bindparam("b_codes", type_=ARRAY(String(80)))),
            [
                {"b_fid": w.id, "b_error": results[w.id].error, "b_mid": modality_ids.get(results[w.id].modality.code),
                 "b_score": results[w.id].modality.confidence, "b_evidence": list(results[w.id].modality.evidence),
                 "b_codes": results[w.id].modalities}
                for w in classified
            ],
        )
    unclassified = [w for w in works if results[w.id].modality is None]
    if unclassified:
        session.execute(
            update(figures).where(figures.c.id == bindparam("b_fid"))
            .values(annotated_at=now, annotation_error=bindparam("b_error")),
            [{"b_fid": w.id, "b_error": results[w.id].error} for w in unclassified],
        )

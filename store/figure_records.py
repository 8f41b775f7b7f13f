"""Figure and panel records as the exports publish them (the JSONL contract of the harvest issue).

Figure level: one dict per figure with at least pmcid, version, pmid, doi, license, figure_id (the
JATS @id), label, caption, image (path relative to the export, or null), width, height, sha256,
citances ([{text, section, panels}]), subfigures, concepts, modality (and modalities: the set of its
panels'). Each `subfigures` entry: box, score, label, method, and the panel's own text: subcaption
(its own words, or null), full_text (its self-contained caption, or null), citances (the sentences
naming the panel), concepts (found in its subcaption and in those sentences) and modality.

Subfigure level: one dict per panel with the article fields, figure_id, figure_label, caption (the
figure's), panel (reading order), label, box ([x1, y1, x2, y2] in pixels of the figure image),
subcaption ({label, text, full_text, flag} or null), full_text (the subcaption's, or null), text (the
subcaption's full_text, else the caption), the citances naming the panel (tied to it by the caption
stage, or whose cited panel letters include its label), the concepts found in its subcaption and in
those citances, and its modality (the figure's when the panel has none). The exporter fills image,
width, height and sha256 from the crop.

Rows stream from one server-side cursor ordered by (article_key, figure ordinal): the order does not
depend on database ids, so dedup ("keep the first") and shard contents are reproducible. Citances,
panels, subcaptions and concepts are loaded one batch of figures at a time.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict, namedtuple
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import BigInteger, Select, and_, any_, exists, func, literal, or_, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased

from figmine.panel_labels import panel_key as label_key
from store.filters import FigureFilter, filtered_figures, modality_condition
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

BATCH = 1000

_FIGURE_COLUMNS = (
    Figure.id,
    Figure.ordinal,
    Figure.jats_id,
    Figure.label,
    Figure.caption_title,
    Figure.caption_text,
    Figure.width,
    Figure.height,
    Figure.sha256,
    Figure.phash,
    Figure.source,
    Figure.image_key,
    Figure.image_format,
    Figure.modality_id,
    Figure.modalities,
    Article.article_key,
    Article.pmcid,
    Article.version,
    Article.pmid,
    Article.doi,
    Article.title,
    Article.journal,
    Article.year,
    Article.license_code,
    Article.retracted,
)


_Columns = namedtuple("_Columns", [c.key for c in _FIGURE_COLUMNS])


@dataclass
class PanelRow:
    """One panel of a figure, with its record (subfigure level)."""

    record: dict
    ordinal: int
    box: tuple[int, int, int, int]


@dataclass
class FigureRow:
    """A figure with what an exporter needs to find its image (and, at subfigure level, its panels)."""

    record: dict
    image_key: str | None
    image_format: str | None
    article_key: str = ""
    ordinal: int = 0
    panels: list[PanelRow] = field(default_factory=list)

    @property
    def sha256(self) -> str | None:
        return self.record.get("sha256")

    @property
    def phash(self) -> str | None:
        return self.record.get("phash")


def article_slug(article_key: str, pmcid: str | None) -> str:
    """A short name for an article that is safe in file names and WebDataset keys (no dots, no slashes)."""
    if pmcid and pmcid.isalnum():
        return pmcid
    return "a" + hashlib.sha1(article_key.encode()).hexdigest()[:16]


def figure_key(row: FigureRow) -> str:
    return f"{article_slug(row.article_key, row.record.get('pmcid'))}_f{row.ordinal:03d}"


def panel_key(row: FigureRow, panel: PanelRow) -> str:
    return f"{figure_key(row)}_p{panel.ordinal:02d}"


# -- the subfigure variant of the filter --------------------------------------------------------
def panel_conditions(f: FigureFilter, panel=Subfigure) -> list:
    """Conditions on Subfigure (joined to its Figure) for panel-level exports.

    Only the modality filter changes meaning at panel level: a panel matches when its own modality is
    one of the codes, or when it has none and its figure's does. Every other filter is a property of
    the figure (or article) and is applied to the figure as usual.
    """
    if not f.modality:
        return []
    return [
        or_(
            modality_condition(f.modality, panel.modality_id),
            and_(panel.modality_id.is_(None), modality_condition(f.modality, Figure.modality_id)),
        )
    ]


def _panel_exists(f: FigureFilter):
    return exists().where(Subfigure.figure_id == Figure.id, *panel_conditions(f))


# -- queries ------------------------------------------------------------------------------------
def figure_query(pmcids: Sequence[str] | None = None, figure_filter: FigureFilter | None = None) -> Select:
    """SELECT of the export's figure columns in export order (article_key, ordinal)."""
    f = figure_filter or FigureFilter()
    if pmcids:
        f = replace(f, pmcid=list(f.pmcid) + list(pmcids))
    return (
        filtered_figures(f)
        .with_only_columns(*_FIGURE_COLUMNS)
        .order_by(Article.article_key, Figure.ordinal, Figure.id)
    )


def count_figures(session: Session, figure_filter: FigureFilter | None = None) -> int:
    stmt = filtered_figures(figure_filter or FigureFilter()).with_only_columns(func.count(Figure.id))
    return int(session.scalar(stmt) or 0)


def count_panels(session: Session, figure_filter: FigureFilter | None = None) -> int:
    f = figure_filter or FigureFilter()
    panel = aliased(Subfigure)  # the filter's own EXISTS over subfigures must not correlate to the join
    stmt = (
        filtered_figures(f)
        .with_only_columns(func.count(panel.id))
        .join(panel, panel.figure_id == Figure.id)
        .where(*panel_conditions(f, panel))
    )
    return int(session.scalar(stmt) or 0)


def iter_figure_rows(
    session: Session,
    pmcids: Sequence[str] | None = None,
    *,
    figure_filter: FigureFilter | None = None,
    panels: bool = False,
    batch: int = BATCH,
) -> Iterator[FigureRow]:
    """Stream figures in export order; with `panels`, only figures with (matching) panels, each with them.

    The figure rows come from one server-side cursor; the session's other queries (citances, panels,
    concepts of each batch) run on the same connection between fetches.
    """
    f = figure_filter or FigureFilter()
    stmt = figure_query(pmcids, f)
    if panels:
        stmt = stmt.where(_panel_exists(f))
    result = session.execute(stmt.execution_options(stream_results=True, yield_per=batch))
    modalities = _modality_codes(session)
    try:
        for chunk in result.partitions(batch):
            figure_ids = [row[0] for row in chunk]
            citances = _citances_for(session, figure_ids)
            subfigures = _subfigures_for(session, figure_ids, f if panels else None)
            concepts = _concepts_for(session, figure_ids)
            subcaptions = _subcaptions_for(session, figure_ids) if subfigures else {}
            links = _panel_citances_for(session, figure_ids) if subfigures else {}
            for row in chunk:
                columns = _Columns(*row)  # positional: attribute access on a Row costs more than the rest
                figure_id = columns.id
                subs = subfigures.get(figure_id, [])
                mentions = concepts.get(figure_id, [])
                cited = citances.get(figure_id, [])
                texts = panel_texts(subs, subcaptions.get(figure_id, []), cited, mentions, links) if subs else {}
                record = _record(columns, cited, subs, texts, mentions, modalities)
                figure = FigureRow(
                    record=record,
                    image_key=columns.image_key,
                    image_format=columns.image_format,
                    article_key=columns.article_key,
                    ordinal=columns.ordinal,
                )
                if panels:
                    figure.panels = _panel_rows(record, subs, texts, modalities)
                yield figure
    finally:
        result.close()


# -- batch loaders ------------------------------------------------------------------------------
def _any(ids: list[int]):
    """`= ANY(:ids)` with one array parameter: one statement text for every batch (an IN list of
    500 parameters costs more to build than the query takes to run)."""
    return any_(literal(ids, ARRAY(BigInteger)))


@dataclass
class _Cited:
    id: int
    entry: dict  # {text, section, panels}

    @property
    def panels(self) -> list[str]:
        return self.entry["panels"]


def _citances_for(session: Session, figure_ids: list[int]) -> dict[int, list[_Cited]]:
    rows = session.execute(
        select(CitanceFigure.figure_id, Citance.id, CitanceFigure.panels, Citance.text, Citance.section)
        .join(Citance, Citance.id == CitanceFigure.citance_id)
        .where(CitanceFigure.figure_id == _any(figure_ids))
        .order_by(CitanceFigure.figure_id, Citance.ordinal, Citance.id)
    ).all()
    out: dict[int, list[_Cited]] = defaultdict(list)
    for figure_id, citance_id, panels, text, section in rows:
        out[figure_id].append(_Cited(citance_id, {"text": text, "section": section, "panels": list(panels or [])}))
    return out


def _panel_citances_for(session: Session, figure_ids: list[int]) -> dict[int, set[int]]:
    """subfigure id → ids of the citances the caption stage tied to it."""
    rows = session.execute(
        select(CitanceSubfigure.subfigure_id, CitanceSubfigure.citance_id)
        .join(Subfigure, Subfigure.id == CitanceSubfigure.subfigure_id)
        .where(Subfigure.figure_id == _any(figure_ids))
    ).all()
    out: dict[int, set[int]] = defaultdict(set)
    for subfigure_id, citance_id in rows:
        out[subfigure_id].add(citance_id)
    return out


@dataclass
class _Sub:
    id: int
    ordinal: int
    box: tuple[int, int, int, int]
    score: float | None
    label: str | None
    method: str | None
    modality_id: int | None
    selected: bool  # matches the panel-level filter


def _subfigures_for(session: Session, figure_ids: list[int], f: FigureFilter | None) -> dict[int, list[_Sub]]:
    conds = panel_conditions(f) if f is not None else []
    selected = and_(*conds) if conds else None
    columns = [
        Subfigure.figure_id, Subfigure.id, Subfigure.ordinal, Subfigure.x1, Subfigure.y1, Subfigure.x2,
        Subfigure.y2, Subfigure.score, Subfigure.label, Subfigure.method, Subfigure.modality_id,
    ]
    stmt = select(*columns, (selected if selected is not None else true()).label("selected"))
    if selected is not None:
        stmt = stmt.join(Figure, Figure.id == Subfigure.figure_id)
    rows = session.execute(
        stmt.where(Subfigure.figure_id == _any(figure_ids)).order_by(Subfigure.figure_id, Subfigure.ordinal, Subfigure.id)
    ).all()
    out: dict[int, list[_Sub]] = defaultdict(list)
    for r in rows:
        out[r.figure_id].append(
            _Sub(r.id, r.ordinal, (r.x1, r.y1, r.x2, r.y2), r.score, r.label, r.method, r.modality_id, bool(r.selected))
        )
    return out


@dataclass
class _Mention:
    subfigure_id: int | None
    subcaption_id: int | None
    citance_id: int | None
    entry: dict


def _concepts_for(session: Session, figure_ids: list[int]) -> dict[int, list[_Mention]]:
    rows = session.execute(
        select(
            ConceptMention.figure_id, ConceptMention.subfigure_id, ConceptMention.subcaption_id,
            ConceptMention.citance_id, ConceptMention.field, ConceptMention.start, ConceptMention.end,
            ConceptMention.text,
            ConceptMention.score, Concept.vocab, Concept.code, Concept.name,
        )
        .join(Concept, Concept.id == ConceptMention.concept_id)
        .where(ConceptMention.figure_id == _any(figure_ids))
        .order_by(ConceptMention.figure_id, ConceptMention.field, ConceptMention.start, ConceptMention.id)
    ).all()
    out: dict[int, list[_Mention]] = defaultdict(list)
    for r in rows:
        entry = {
            "vocab": r.vocab, "code": r.code, "name": r.name, "field": r.field,
            "text": r.text, "start": r.start, "end": r.end, "score": r.score,
        }
        out[r.figure_id].append(_Mention(r.subfigure_id, r.subcaption_id, r.citance_id, entry))
    return out


@dataclass
class _Subcaption:
    id: int
    subfigure_id: int | None
    label: str | None
    text: str
    full_text: str
    flag: str | None


def _subcaptions_for(session: Session, figure_ids: list[int]) -> dict[int, list[_Subcaption]]:
    rows = session.execute(
        select(
            Subcaption.figure_id, Subcaption.id, Subcaption.subfigure_id, Subcaption.label, Subcaption.text,
            Subcaption.full_text, Subcaption.flag,
        )
        .where(Subcaption.figure_id == _any(figure_ids))
        .order_by(Subcaption.figure_id, Subcaption.ordinal, Subcaption.id)
    ).all()
    out: dict[int, list[_Subcaption]] = defaultdict(list)
    for r in rows:
        out[r.figure_id].append(_Subcaption(r.id, r.subfigure_id, r.label, r.text, r.full_text, r.flag))
    return out


def _modality_codes(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Modality.id, Modality.code)).all())


# -- records ------------------------------------------------------------------------------------
@dataclass
class PanelText:
    """What belongs to one panel: its subcaption, the citances naming it, the mentions of its concepts
    (the caller's own objects)."""

    subcaption: Any
    citances: list
    mentions: list


def panel_texts(panels: Sequence, subcaptions: Sequence, citances: Sequence, mentions: Sequence,
                links: dict[int, set[int]]) -> dict[int, PanelText]:
    """panel id → its text, for the panels of one figure (the exports and the API both use this).

    A subcaption belongs to the panel it is aligned with, else to the panel with its label; a citance
    to the panels the caption stage tied it to (`links`: panel id → citance ids), and to the panel
    whose label it cites; a concept mention to the panel whose subcaption or citances it was found in.
    Duck-typed: panels have `id, label`; subcaptions `id, subfigure_id, label`; citances `id, panels`;
    mentions `subfigure_id, subcaption_id, citance_id`."""
    linked = {s.subfigure_id: s for s in subcaptions if s.subfigure_id is not None}
    by_label = {label_key(s.label): s for s in subcaptions if s.subfigure_id is None and label_key(s.label)}
    out: dict[int, PanelText] = {}
    for panel in panels:
        subcaption = linked.get(panel.id)
        label = label_key(panel.label) or (label_key(subcaption.label) if subcaption is not None else "")
        if subcaption is None and label:
            subcaption = by_label.get(label)
        tied = links.get(panel.id, set())
        cited = [c for c in citances if c.id in tied or (label and label in {label_key(p) for p in c.panels})]
        cited_ids = {c.id for c in cited}
        own = [
            m for m in mentions
            if m.subfigure_id == panel.id
            or (subcaption is not None and m.subcaption_id == subcaption.id)
            or (m.citance_id is not None and m.citance_id in cited_ids)
        ]
        out[panel.id] = PanelText(subcaption, cited, own)
    return out


def _record(row, citances: list[_Cited], subs: list[_Sub], texts: dict[int, PanelText], mentions: list[_Mention],
            modalities: dict) -> dict:
    modality = modalities.get(row.modality_id) if row.modality_id else None
    return {
        "pmcid": row.pmcid,
        "version": row.version,
        "pmid": row.pmid,
        "doi": row.doi,
        "title": row.title,
        "journal": row.journal,
        "year": row.year,
        "license": row.license_code,
        "retracted": row.retracted,
        "figure_id": row.jats_id,
        "label": row.label,
        "caption_title": row.caption_title,
        "caption": row.caption_text,
        "image": None,
        "width": row.width,
        "height": row.height,
        "sha256": row.sha256,
        "phash": row.phash,
        "image_source": row.source if row.image_key else None,
        "citances": [c.entry for c in citances],
        "subfigures": [_subfigure_entry(s, texts[s.id], modalities) for s in subs],
        "concepts": [m.entry for m in mentions],
        "modality": modality,
        "modalities": list(row.modalities or ([modality] if modality else [])),
    }


def _subfigure_entry(sub: _Sub, text: PanelText, modalities: dict) -> dict:
    subcaption = text.subcaption
    return {
        "box": list(sub.box),
        "score": sub.score,
        "label": sub.label,
        "method": sub.method,
        "subcaption": subcaption.text if subcaption is not None else None,
        "full_text": subcaption.full_text if subcaption is not None else None,
        "citances": [c.entry for c in text.citances],
        "concepts": [m.entry for m in text.mentions],
        "modality": modalities.get(sub.modality_id) if sub.modality_id else None,
    }


def _panel_rows(figure: dict, subs: list[_Sub], texts: dict[int, PanelText], modalities: dict) -> list[PanelRow]:
    rows: list[PanelRow] = []
    for sub in subs:
        if not sub.selected:
            continue
        text = texts[sub.id]
        subcaption = text.subcaption
        record = {
            "pmcid": figure["pmcid"],
            "version": figure["version"],
            "pmid": figure["pmid"],
            "doi": figure["doi"],
            "title": figure["title"],
            "journal": figure["journal"],
            "year": figure["year"],
            "license": figure["license"],
            "retracted": figure["retracted"],
            "figure_id": figure["figure_id"],
            "figure_label": figure["label"],
            "caption": figure["caption"],
            "panel": sub.ordinal,
            "label": sub.label,
            "box": list(sub.box),
            "score": sub.score,
            "method": sub.method,
            "subcaption": None
            if subcaption is None
            else {
                "label": subcaption.label,
                "text": subcaption.text,
                "full_text": subcaption.full_text,
                "flag": subcaption.flag,
            },
            "full_text": subcaption.full_text if subcaption is not None else None,
            "text": subcaption.full_text if subcaption is not None and subcaption.full_text else figure["caption"],
            "image": None,
            "width": None,
            "height": None,
            "sha256": None,
            "figure_sha256": figure["sha256"],
            "citances": [c.entry for c in text.citances],
            "concepts": [m.entry for m in text.mentions],
            "modality": modalities.get(sub.modality_id) if sub.modality_id else figure["modality"],
        }
        rows.append(PanelRow(record=record, ordinal=sub.ordinal, box=sub.box))
    return rows

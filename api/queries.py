"""Every database read of the API, in one place (routes stay thin).

Listings select plain columns (no ORM entities: less work per row) with the conditions of
`store.filters` — the one filter model (its full-text condition rewritten for the planner, see
`text_match`) — and page by keyset: `[id]` ascending, or `[rank, id]` with `q`, rank being
`ts_rank_cd` of the caption (panels: of their best subcaption plus their caption). psycopg prepares a
statement server-side after five executions, so the repeated listing queries run on cached plans.

The reads run on the session's Core connection (`session.connection().execute`): they select columns,
not entities, so the ORM's execute path (its events, ORM result wrapping) is pure overhead, ~80 µs a
statement; the rows are the same.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, cast, func, literal, or_, select
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION
from sqlalchemy.orm import Session, aliased

from store.figure_records import panel_conditions
from store.filters import TS_CONFIG, FigureFilter, article_conditions, figure_conditions
from store.models import (
    Article,
    Citance,
    CitanceFigure,
    CitanceSubfigure,
    Concept,
    ConceptMention,
    Export,
    Figure,
    HarvestItem,
    HarvestRun,
    Modality,
    Subcaption,
    Subfigure,
)
from store.stats import corpus_stats


@dataclass
class PageRows:
    rows: list[Any]
    next_key: tuple | None
    total: int | None


def _page(rows: list, limit: int, key_of) -> tuple[list, tuple | None]:
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, key_of(rows[-1])
    return rows, None


def _keyset(stmt, rank, id_column, *, limit: int, after: tuple | None):
    """One page of `stmt` by keyset: ranked (rank desc, id) when `rank` is given, else by id; asks for
    one row more than `limit` so the caller knows whether a next page exists. Returns (stmt, key_of)."""
    if rank is not None:
        stmt = stmt.add_columns(rank.label("rank"))
        if after is not None:
            stmt = stmt.where(or_(rank < after[0], and_(rank == after[0], id_column > after[1])))
        stmt = stmt.order_by(rank.desc(), id_column)
        key_of = lambda r: (r.rank, r.id)  # noqa: E731
    else:
        stmt = stmt.add_columns(literal(None).label("rank"))
        if after is not None:
            stmt = stmt.where(id_column > after[0])
        stmt = stmt.order_by(id_column)
        key_of = lambda r: (r.id,)  # noqa: E731
    return stmt.limit(limit + 1), key_of


def _as_double(rank):
    # ts_rank_cd is a `real`; a float4 read into Python and sent back as float8 no longer compares
    # equal to itself, and the keyset would repeat rows. As double precision it round-trips exactly.
    return cast(rank, DOUBLE_PRECISION)


def _tsquery(q: str):
    return func.websearch_to_tsquery(TS_CONFIG, q)


def listing_conditions(f: FigureFilter) -> list:
    """The conditions of `store.filters` (its full-text part is index-driven: `text_match`)."""
    return figure_conditions(f)


# -- articles ----------------------------------------------------------------------------------
@dataclass
class ArticleFilter:
    license: list[str]
    year_from: int | None = None
    year_to: int | None = None
    journal: list[str] | None = None
    pmcid: list[str] | None = None
    include_retracted: bool = False


def _article_conditions(f: ArticleFilter) -> list:
    retracted = [] if f.include_retracted else [Article.retracted.is_(False)]
    return retracted + article_conditions(f)


def _n_figures(article_id_column):
    return (
        select(func.count()).where(Figure.article_id == article_id_column).correlate(Article).scalar_subquery()
    )


ARTICLE_COLUMNS = (
    Article.id, Article.pmcid, Article.pmid, Article.doi, Article.title, Article.journal, Article.year,
    Article.license_code.label("license"), Article.article_type, Article.version, Article.retracted,
)


def list_articles(session: Session, f: ArticleFilter, *, limit: int, after: tuple | None, with_total: bool) -> PageRows:
    conds = _article_conditions(f)
    stmt = select(*ARTICLE_COLUMNS, _n_figures(Article.id).label("n_figures")).where(*conds)
    if after is not None:
        stmt = stmt.where(Article.id > after[0])
    conn = session.connection()
    rows = conn.execute(stmt.order_by(Article.id).limit(limit + 1)).all()
    rows, next_key = _page(rows, limit, lambda r: (r.id,))
    total = conn.scalar(select(func.count()).select_from(Article).where(*conds)) if with_total else None
    return PageRows(rows, next_key, total)


def get_article(session: Session, pmcid: str) -> tuple[Any, list[Any], int] | None:
    """(article row, its figures, number of citances) for the newest stored version of `pmcid`."""
    conn = session.connection()
    article = conn.execute(
        select(
            *ARTICLE_COLUMNS, Article.license_url, Article.is_manuscript, Article.source, Article.fetched_at,
            _n_figures(Article.id).label("n_figures"),
        )
        .where(func.upper(Article.pmcid) == pmcid.upper())
        .order_by(Article.version.desc().nulls_last(), Article.id.desc())
        .limit(1)
    ).one_or_none()
    if article is None:
        return None
    figures = conn.execute(
        select(
            Figure.id, Figure.label, Figure.caption_title, Figure.width, Figure.height,
            Figure.image_key.is_not(None).label("has_image"), Figure.is_compound, Figure.n_panels,
        )
        .where(Figure.article_id == article.id)
        .order_by(Figure.ordinal, Figure.id)
    ).all()
    n_citances = conn.scalar(select(func.count()).select_from(Citance).where(Citance.article_id == article.id))
    return article, figures, n_citances or 0


# -- figures -----------------------------------------------------------------------------------
FIGURE_COLUMNS = (
    Figure.id, Figure.article_id, Article.pmcid, Figure.label, Figure.caption_title,
    Figure.caption_text.label("caption"), Figure.width, Figure.height,
    Figure.image_key.is_not(None).label("has_image"), Figure.source, Figure.is_compound, Figure.n_panels,
    Modality.code.label("modality"), Article.journal, Article.year, Article.license_code.label("license"),
)


def figures_page(f: FigureFilter, *, limit: int, after: tuple | None):
    """(the SELECT of one page of figures, a function giving a row's sort key); also used by the bench."""
    stmt = (
        select(*FIGURE_COLUMNS)
        .select_from(Figure)
        .join(Article, Figure.article_id == Article.id)
        .outerjoin(Modality, Modality.id == Figure.modality_id)
        .where(*listing_conditions(f))
    )
    rank = _as_double(func.ts_rank_cd(Figure.caption_tsv, _tsquery(f.q))) if f.q else None
    return _keyset(stmt, rank, Figure.id, limit=limit, after=after)


def list_figures(
    session: Session, f: FigureFilter, *, limit: int, after: tuple | None, with_total: bool
) -> PageRows:
    stmt, key_of = figures_page(f, limit=limit, after=after)
    conn = session.connection()
    rows, next_key = _page(conn.execute(stmt).all(), limit, key_of)
    total = None
    if with_total:
        total = conn.scalar(
            select(func.count()).select_from(Figure).join(Article, Figure.article_id == Article.id)
            .where(*listing_conditions(f))
        )
    return PageRows(rows, next_key, total)


def _modality_info(session: Session, modality_ids: set[int]) -> dict[int, Any]:
    if not modality_ids:
        return {}
    rows = session.connection().execute(
        select(Modality.id, Modality.code, Modality.name, Modality.cui).where(Modality.id.in_(modality_ids))
    ).all()
    return {r.id: r for r in rows}


def get_figure(session: Session, figure_id: int) -> dict | None:
    """A figure with its article, panels, subcaptions, citances (with panel letters), concepts, modality."""
    # columns, not entities: the tsvectors, the caption XML and the article's bookkeeping stay in the database
    conn = session.connection()
    figure = conn.execute(
        select(
            Figure.id, Figure.label, Figure.jats_id, Figure.caption_title, Figure.caption_text, Figure.context,
            Figure.source, Figure.width, Figure.height, Figure.image_key, Figure.image_format, Figure.sha256,
            Figure.phash, Figure.is_compound, Figure.n_panels, Figure.modality_id, Figure.modality_score,
            Figure.modality_evidence, Figure.modalities, Figure.annotated_at,
            Article.id.label("article_id"), Article.pmcid, Article.doi, Article.title, Article.journal,
            Article.year, Article.license_code, Article.retracted,
        )
        .join(Article, Figure.article_id == Article.id)
        .where(Figure.id == figure_id)
    ).one_or_none()
    if figure is None:
        return None
    subfigures = conn.execute(
        select(
            Subfigure.id, Subfigure.ordinal, Subfigure.label, Subfigure.x1, Subfigure.y1, Subfigure.x2,
            Subfigure.y2, Subfigure.score, Subfigure.method, Subfigure.modality_id, Subfigure.modality_score,
            Subfigure.modality_evidence,
        )
        .where(Subfigure.figure_id == figure_id)
        .order_by(Subfigure.ordinal, Subfigure.id)
    ).all()
    subcaptions = conn.execute(
        select(
            Subcaption.id, Subcaption.subfigure_id, Subcaption.ordinal, Subcaption.label, Subcaption.text,
            Subcaption.full_text, Subcaption.flag,
        )
        .where(Subcaption.figure_id == figure_id)
        .order_by(Subcaption.ordinal, Subcaption.id)
    ).all()
    citances = conn.execute(
        select(Citance.id, Citance.text, Citance.section, CitanceFigure.panels)
        .join(CitanceFigure, CitanceFigure.citance_id == Citance.id)
        .where(CitanceFigure.figure_id == figure_id)
        .order_by(Citance.ordinal, Citance.id)
    ).all()
    concepts = conn.execute(
        select(
            Concept.id, Concept.vocab, Concept.code, Concept.name,
            func.count(ConceptMention.id).label("mentions"),
            func.array_agg(func.distinct(ConceptMention.field)).label("fields"),
        )
        .join(ConceptMention, ConceptMention.concept_id == Concept.id)
        .where(ConceptMention.figure_id == figure_id)
        .group_by(Concept.id)
        .order_by(func.count(ConceptMention.id).desc(), Concept.name)
    ).all()
    links: dict[int, set[int]] = defaultdict(set)
    mentions: list[Any] = []
    if subfigures:
        for subfigure_id, citance_id in conn.execute(
            select(CitanceSubfigure.subfigure_id, CitanceSubfigure.citance_id)
            .join(Subfigure, Subfigure.id == CitanceSubfigure.subfigure_id)
            .where(Subfigure.figure_id == figure_id)
        ).all():
            links[subfigure_id].add(citance_id)
        # the mentions that can belong to a panel: in subcaptions and citances (not the caption)
        mentions = conn.execute(
            select(
                ConceptMention.subfigure_id, ConceptMention.subcaption_id, ConceptMention.citance_id,
                ConceptMention.field, Concept.id, Concept.vocab, Concept.code, Concept.name,
            )
            .join(Concept, Concept.id == ConceptMention.concept_id)
            .where(ConceptMention.figure_id == figure_id, ConceptMention.field != "caption")
            .order_by(ConceptMention.id)
        ).all()
    modality_ids = {m for m in [figure.modality_id, *(s.modality_id for s in subfigures)] if m is not None}
    modalities = _modality_info(session, modality_ids)
    return {
        "figure": figure,
        "subfigures": subfigures,
        "subcaptions": subcaptions,
        "citances": citances,
        "concepts": concepts,
        "modalities": modalities,
        "panel_citances": dict(links),
        "panel_mentions": mentions,
    }


def figure_image_ref(session: Session, figure_id: int):
    """(image_key, image_format, sha256) of a figure, or None when there is no such figure."""
    return session.connection().execute(
        select(Figure.image_key, Figure.image_format, Figure.sha256).where(Figure.id == figure_id)
    ).one_or_none()


def subfigure_image_ref(session: Session, subfigure_id: int):
    """Box, own crop key and the parent figure's image of a panel, or None."""
    return session.connection().execute(
        select(
            Subfigure.x1, Subfigure.y1, Subfigure.x2, Subfigure.y2, Subfigure.image_key.label("crop_key"),
            Figure.image_key, Figure.sha256,
        )
        .join(Figure, Figure.id == Subfigure.figure_id)
        .where(Subfigure.id == subfigure_id)
    ).one_or_none()


# -- subfigures --------------------------------------------------------------------------------
# The panel table under an alias: the figure filter's own EXISTS over subfigures (modality) must
# not correlate with the panel being listed.
Panel = aliased(Subfigure, name="panel")


def _first_subcaption():
    return (
        select(Subcaption.text)
        .where(Subcaption.subfigure_id == Panel.id)
        .order_by(Subcaption.ordinal, Subcaption.id)
        .limit(1)
        .correlate(Panel)
        .scalar_subquery()
    )


def subfigure_conditions(f: FigureFilter) -> list:
    """Panels of the figures the filter selects — the same set a panel-level export of that filter
    writes (`store.figure_records.panel_conditions`): the modality filter looks at the panel's own
    modality (its figure's when it has none); every other filter is a property of the figure or article.
    """
    # the figure-level modality condition (the figure or one of its panels has the modality) is
    # implied by the panel's own and would cost an EXISTS per figure: left out
    return [*listing_conditions(replace(f, modality=[]) if f.modality else f), *panel_conditions(f, Panel)]


def _panels_from(stmt):
    return (
        stmt.select_from(Panel)
        .join(Figure, Figure.id == Panel.figure_id)
        .join(Article, Figure.article_id == Article.id)
    )


def subfigures_page(f: FigureFilter, *, limit: int, after: tuple | None):
    """(the SELECT of one page of panels, a function giving a row's sort key).

    With `q`, panels are ranked by their best-matching subcaption plus their figure's caption."""
    stmt = _panels_from(
        select(
            Panel.id, Panel.figure_id, Article.pmcid, Panel.ordinal, Panel.label,
            Panel.x1, Panel.y1, Panel.x2, Panel.y2, Panel.score, Panel.method,
            Modality.code.label("modality"), _first_subcaption().label("subcaption"),
        )
    ).outerjoin(Modality, Modality.id == func.coalesce(Panel.modality_id, Figure.modality_id))
    stmt = stmt.where(*subfigure_conditions(f))
    if f.q:
        query = _tsquery(f.q)
        best_subcaption = (
            select(func.max(func.ts_rank_cd(Subcaption.text_tsv, query)))
            .where(Subcaption.subfigure_id == Panel.id, Subcaption.text_tsv.op("@@")(query))
            .correlate(Panel)
            .scalar_subquery()
        )
        rank = _as_double(func.coalesce(best_subcaption, 0) + func.ts_rank_cd(Figure.caption_tsv, query))
    else:
        rank = None
    return _keyset(stmt, rank, Panel.id, limit=limit, after=after)


def list_subfigures(
    session: Session, f: FigureFilter, *, limit: int, after: tuple | None, with_total: bool
) -> PageRows:
    stmt, key_of = subfigures_page(f, limit=limit, after=after)
    conn = session.connection()
    rows, next_key = _page(conn.execute(stmt).all(), limit, key_of)
    total = None
    if with_total:
        total = conn.scalar(_panels_from(select(func.count())).where(*subfigure_conditions(f)))
    return PageRows(rows, next_key, total)


# -- concepts ----------------------------------------------------------------------------------
def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


_CODE_RE = re.compile(r"^[A-Za-z]\d+$")  # D006528, C0040405


def suggest_concepts(session: Session, prefix: str, *, limit: int) -> list[Any]:
    """Autocomplete. A prefix that looks like a code (D0065…) completes codes; anything else completes
    names: names starting with the prefix first, then names holding a word like it (trigram word
    similarity, `<%`), most similar first. Both name conditions use the trigram GIN index on
    concepts.name; the code search reads the (vocab, code) index."""
    pattern = _like_prefix(prefix)
    columns = (Concept.id, Concept.vocab, Concept.code, Concept.name, Concept.semantic_types)
    if _CODE_RE.match(prefix):
        stmt = select(*columns).where(Concept.code.like(_like_prefix(prefix.upper()), escape="\\"))
        return session.connection().execute(stmt.order_by(Concept.code, Concept.id).limit(limit)).all()
    starts = Concept.name.ilike(pattern, escape="\\")
    similar = literal(prefix).op("<%")(Concept.name)
    stmt = (
        select(*columns)
        .where(or_(starts, similar) if len(prefix) >= 3 else starts)
        .order_by(starts.desc(), func.word_similarity(prefix, Concept.name).desc(), func.length(Concept.name),
                  Concept.id)
        .limit(limit)
    )
    return session.connection().execute(stmt).all()


# -- stats -------------------------------------------------------------------------------------
def corpus_counts(session: Session) -> dict:
    """`store.stats.corpus_stats` plus figures by modality."""
    data = corpus_stats(session)
    rows = session.execute(
        select(Modality.code, func.count())
        .select_from(Figure)
        .outerjoin(Modality, Modality.id == Figure.modality_id)
        .group_by(Modality.code)
        .order_by(func.count().desc())
    ).all()
    data["by_modality"] = {code or "unknown": n for code, n in rows}
    data["by_year"] = {str(k): v for k, v in data.get("by_year", {}).items()}
    return data


# -- jobs --------------------------------------------------------------------------------------
RECENT_ERRORS = 20


def get_harvest(session: Session, run_id: int) -> tuple[HarvestRun, list[Any]] | None:
    run = session.get(HarvestRun, run_id)
    if run is None:
        return None
    errors = session.execute(
        select(HarvestItem.item, HarvestItem.status, HarvestItem.reason, HarvestItem.created_at)
        .where(HarvestItem.run_id == run_id, HarvestItem.status.in_(("failed", "partial")))
        .order_by(HarvestItem.id.desc())
        .limit(RECENT_ERRORS)
    ).all()
    return run, errors


def get_export(session: Session, export_id: int) -> Export | None:
    return session.get(Export, export_id)

"""One filter model for figure and subfigure queries, shared by the API, exports and the CLI.

Every filter becomes a bound SQLAlchemy expression (no SQL assembled from strings). `q` searches the
caption tsvector, subcaptions and citances with `websearch_to_tsquery` (quotes, OR, -negation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Select, and_, exists, func, literal_column, or_, select, union
from sqlalchemy.orm import aliased

from harvester.licenses import COMMERCIAL, NONCOMMERCIAL
from store.models import (
    Article,
    Citance,
    CitanceFigure,
    Concept,
    ConceptMention,
    Figure,
    Modality,
    Subcaption,
    Subfigure,
)

TS_CONFIG = literal_column("'english'::regconfig")  # a constant, so the planner can use the GIN indexes


@dataclass
class FigureFilter:
    q: str | None = None
    modality: list[str] = field(default_factory=list)  # taxonomy codes; a parent code matches its children
    concept: list[str] = field(default_factory=list)  # concept code (D006528, C0040405) or exact name
    license: list[str] = field(default_factory=list)  # commercial | noncommercial | licence codes
    year_from: int | None = None
    year_to: int | None = None
    journal: list[str] = field(default_factory=list)
    pmcid: list[str] = field(default_factory=list)
    compound: bool | None = None
    min_panels: int | None = None
    has_citances: bool | None = None
    min_width: int | None = None
    min_height: int | None = None
    include_retracted: bool = False


def license_codes(values: list[str]) -> set[str]:
    codes: set[str] = set()
    for value in values:
        key = value.strip()
        if key.lower() == "commercial":
            codes |= COMMERCIAL
        elif key.lower() == "noncommercial":
            codes |= COMMERCIAL | NONCOMMERCIAL  # non-commercial use admits commercial licences too
        elif key:
            codes.add(key.upper().replace("CC-", "CC ").replace("CC0", "CC0"))
    return codes


def modality_condition(codes: list[str], column):
    """`radiology` matches `radiology` and every `radiology.*` code."""
    wanted = [c.strip() for c in codes if c.strip()]
    return column.in_(
        select(Modality.id).where(or_(*[or_(Modality.code == c, Modality.code.like(f"{c}.%")) for c in wanted]))
    )


_Matched = aliased(Figure, name="matched")


def text_match(q: str):
    """The figure's caption, one of its subcaptions or a citance of it matches `q`, written as
    `figures.id IN (… UNION … UNION …)` so the planner drives it from the three GIN indexes (an OR of
    EXISTS sub-plans makes PostgreSQL scan every figure)."""
    query = func.websearch_to_tsquery(TS_CONFIG, q)
    matching = union(
        select(_Matched.id).where(_Matched.caption_tsv.op("@@")(query)),
        select(Subcaption.figure_id).where(Subcaption.text_tsv.op("@@")(query)),
        select(CitanceFigure.figure_id)
        .join(Citance, Citance.id == CitanceFigure.citance_id)
        .where(Citance.text_tsv.op("@@")(query)),
    )
    return Figure.id.in_(matching)


class ArticleFields(Protocol):
    license: list[str] | None
    year_from: int | None
    year_to: int | None
    journal: list[str] | None
    pmcid: list[str] | None


def article_conditions(f: ArticleFields) -> list:
    """The article-level filters (licence, years, journal, PMCID), shared by figure and article queries."""
    conds: list = []
    if f.license:
        conds.append(Article.license_code.in_(sorted(license_codes(f.license))))
    if f.year_from is not None:
        conds.append(Article.year >= f.year_from)
    if f.year_to is not None:
        conds.append(Article.year <= f.year_to)
    if f.journal:  # lower(journal) has its own index
        conds.append(func.lower(Article.journal).in_([j.lower() for j in f.journal]))
    if f.pmcid:
        conds.append(Article.pmcid.in_(f.pmcid))
    return conds


def figure_conditions(f: FigureFilter) -> list:
    """WHERE conditions on a query that joins Figure and Article."""
    conds: list = []
    if not f.include_retracted:
        conds.append(Article.retracted.is_(False))
    if f.q:
        conds.append(text_match(f.q))
    if f.modality:
        conds.append(
            or_(
                modality_condition(f.modality, Figure.modality_id),
                exists().where(Subfigure.figure_id == Figure.id, modality_condition(f.modality, Subfigure.modality_id)),
            )
        )
    if f.concept:
        concept_ids = select(Concept.id).where(
            or_(Concept.code.in_(f.concept), func.lower(Concept.name).in_([c.lower() for c in f.concept]))
        )
        conds.append(exists().where(ConceptMention.figure_id == Figure.id, ConceptMention.concept_id.in_(concept_ids)))
    conds += article_conditions(f)
    if f.compound is not None:
        conds.append(Figure.is_compound.is_(f.compound))
    if f.min_panels is not None:
        conds.append(Figure.n_panels >= f.min_panels)
    if f.has_citances is not None:
        has = exists().where(CitanceFigure.figure_id == Figure.id)
        conds.append(has if f.has_citances else ~has)
    if f.min_width is not None:
        conds.append(Figure.width >= f.min_width)
    if f.min_height is not None:
        conds.append(Figure.height >= f.min_height)
    return conds


def filtered_figures(f: FigureFilter) -> Select:
    """SELECT Figure, Article … with the filter applied (callers add ordering and paging)."""
    stmt = select(Figure, Article).join(Article, Figure.article_id == Article.id)
    conds = figure_conditions(f)
    return stmt.where(and_(*conds)) if conds else stmt

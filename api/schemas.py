"""Request and response bodies of the REST API (pydantic), one place for the public contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from figmine.fields import SafeStr, ShortStr  # noqa: F401 - SafeStr: re-exported for the routes
from pipeline.harvest import HarvestOptions

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """Every listing: one page of items, the cursor for the next page (null at the end), the total when asked."""

    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor=` for the next page; null on the last page")
    total: int | None = Field(default=None, description="Number of matches, with `total=true` only")


# -- articles ----------------------------------------------------------------------------------
class ArticleItem(BaseModel):
    id: int
    pmcid: str | None
    pmid: str | None
    doi: str | None
    title: str | None
    journal: str | None
    year: int | None
    license: str | None
    article_type: str | None
    version: int | None
    retracted: bool
    n_figures: int


class FigureSummary(BaseModel):
    id: int
    label: str | None
    caption_title: str | None
    width: int | None
    height: int | None
    image_url: str | None
    is_compound: bool | None
    n_panels: int | None


class ArticleDetail(ArticleItem):
    license_url: str | None
    is_manuscript: bool
    source: str
    fetched_at: datetime | None
    n_citances: int
    figures: list[FigureSummary]


# -- figures and panels ------------------------------------------------------------------------
class FigureItem(BaseModel):
    id: int
    article_id: int
    pmcid: str | None
    label: str | None
    caption_title: str | None
    caption: str
    width: int | None
    height: int | None
    image_url: str | None
    source: str
    is_compound: bool | None
    n_panels: int | None
    modality: str | None
    journal: str | None
    year: int | None
    license: str | None
    rank: float | None = Field(default=None, description="ts_rank_cd of the caption, with `q` only")


class Box(BaseModel):
    x1: int
    y1: int
    x2: int
    y2: int


class SubfigureItem(BaseModel):
    id: int
    figure_id: int
    pmcid: str | None
    ordinal: int
    label: str | None
    box: Box
    score: float | None
    method: str | None
    modality: str | None
    subcaption: str | None
    image_url: str
    rank: float | None = None


class ModalityInfo(BaseModel):
    code: str
    name: str
    cui: str | None
    score: float | None
    evidence: list[str] = Field(default_factory=list, description="What the classifier went by, strongest first")


class SubcaptionOut(BaseModel):
    id: int
    subfigure_id: int | None
    ordinal: int
    label: str | None
    text: str
    full_text: str
    flag: str | None


class CitanceOut(BaseModel):
    id: int
    text: str
    section: str | None
    panels: list[str] = Field(description="Panel letters this sentence names for the figure (e.g. ['B'])")


class ConceptOut(BaseModel):
    id: int
    vocab: str
    code: str
    name: str
    mentions: int
    fields: list[str]


class SubfigureOut(BaseModel):
    id: int
    ordinal: int
    label: str | None
    box: Box
    score: float | None
    method: str | None
    modality: ModalityInfo | None
    image_url: str
    subcaptions: list[SubcaptionOut]
    subcaption: str | None = Field(default=None, description="The panel's own words in the caption")
    full_text: str | None = Field(default=None, description="A caption for the panel alone (shared text + its own)")
    citances: list[CitanceOut] = Field(default_factory=list, description="Sentences that cite this panel")
    concepts: list[ConceptOut] = Field(default_factory=list,
                                       description="Concepts in the panel's subcaption and citances")


class ArticleRef(BaseModel):
    id: int
    pmcid: str | None
    doi: str | None
    title: str | None
    journal: str | None
    year: int | None
    license: str | None
    retracted: bool


class FigureDetail(BaseModel):
    id: int
    label: str | None
    jats_id: str | None
    caption_title: str | None
    caption: str
    context: str
    source: str
    width: int | None
    height: int | None
    image_url: str | None
    image_format: str | None
    sha256: str | None
    phash: str | None
    is_compound: bool | None
    n_panels: int | None
    modality: ModalityInfo | None
    modalities: list[str] = Field(default_factory=list, description="The set of its panels' modalities")
    annotated_at: datetime | None = Field(default=None, description="When the caption stage last annotated it")
    article: ArticleRef
    subfigures: list[SubfigureOut]
    subcaptions: list[SubcaptionOut]
    citances: list[CitanceOut]
    concepts: list[ConceptOut]


class ConceptItem(BaseModel):
    id: int
    vocab: str
    code: str
    name: str
    semantic_types: list[str]


class Stats(BaseModel):
    model_config = ConfigDict(extra="allow")

    articles: int
    figures: int
    subfigures: int
    citances: int
    by_modality: dict[str, int]
    by_license: dict[str, int]
    by_year: dict[str, int]
    top_journals: dict[str, int]


# -- jobs --------------------------------------------------------------------------------------
class HarvestRequest(HarvestOptions):
    """The options of `figmine harvest`, as JSON (one model: pipeline.harvest.HarvestOptions)."""


class HarvestAccepted(BaseModel):
    id: int
    status: str
    url: str


class HarvestError(BaseModel):
    item: str
    status: str = Field("failed", description="failed, or partial (stored with something missing)")
    reason: str | None
    created_at: datetime | None


class HarvestStatus(BaseModel):
    id: int
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    params: dict[str, Any]
    total: int | None
    done: int = Field(description="Articles stored (ok, partial and replaced)")
    skipped: int = Field(description="Articles not stored: already stored, licence excluded, or conflict")
    failed: int
    processed: int
    partial: int = Field(0, description="Of done: stored with an image or part of the text missing")
    replaced: int = Field(0, description="Of done: stored over a lower-ranked copy of the same identity")
    conflict: int = Field(0, description="Of skipped: a higher-ranked copy of the same identity is stored")
    error: str | None
    recent_errors: list[HarvestError]


class FilterBody(BaseModel):
    """The figure filters of the listings, as JSON (same meaning as the query parameters)."""

    model_config = ConfigDict(extra="forbid")

    q: ShortStr | None = None
    modality: list[ShortStr] = Field(default_factory=list, max_length=100)
    concept: list[ShortStr] = Field(default_factory=list, max_length=100)
    license: list[ShortStr] = Field(default_factory=list, max_length=100)
    year_from: int | None = Field(default=None, ge=0, le=9999)
    year_to: int | None = Field(default=None, ge=0, le=9999)
    journal: list[ShortStr] = Field(default_factory=list, max_length=100)
    pmcid: list[ShortStr] = Field(default_factory=list, max_length=10_000)
    compound: bool | None = None
    min_panels: int | None = Field(default=None, ge=0, le=32767)
    has_citances: bool | None = None
    min_width: int | None = Field(default=None, ge=0, le=2**31 - 1)
    min_height: int | None = Field(default=None, ge=0, le=2**31 - 1)
    include_retracted: bool = False


class ExportRequest(BaseModel):
    """The options of `figmine export`, as JSON; the export engine checks the values (422 when unusable)."""

    model_config = ConfigDict(extra="forbid")

    filters: FilterBody = Field(default_factory=FilterBody)
    level: Literal["figure", "subfigure"] = "figure"
    format: Literal["webdataset", "parquet", "jsonl", "csv"] = "webdataset"
    seed: int = Field(default=0, ge=0, le=2**63 - 1, description="Seed of the split assignment (by article)")
    splits: dict[ShortStr, float] | ShortStr | None = Field(
        default=None, description='Split name → fraction, e.g. {"train": 0.9, "validation": 0.05, "test": 0.05}, '
                                  'or "0.9/0.05/0.05"; none: one split')
    dedup: ShortStr | None = Field(
        default=None, description='Drop duplicate images: "sha256" (exact), "phash" or "phash:6" (near, by distance)')
    shard_size: int | ShortStr | None = Field(
        default=None, description='Records per shard (10000), bytes ("1GB") or both ("10000,1GB")')
    with_images: bool = Field(default=True, description="Include image bytes (parquet/jsonl may leave them out)")


class ExportFile(BaseModel):
    name: str
    size: int | None
    url: str  # needs the X-API-Key header
    download_url: str | None = None  # signed for the requesting key: works without a header until it expires


class ExportStatus(BaseModel):
    id: int
    status: str
    format: str
    level: str
    created_at: datetime | None
    finished_at: datetime | None
    params: dict[str, Any]
    total: int | None
    done: int
    progress: float | None = Field(description="done / total, when the total is known")
    counts: dict[str, Any]
    files: list[ExportFile]
    error: str | None

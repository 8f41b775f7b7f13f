"""The figmine schema, designed for the whole product.

harvest → parse gives articles, figures and citances; detection adds subfigures; caption work adds
subcaptions, concept mentions and modalities; the API and exports read all of it. PostgreSQL only:
arrays, JSONB, generated tsvector columns with GIN indexes, pg_trgm.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Article(Base):
    """One article, at the newest version figmine has stored."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # pmcid when known, else "doi:<doi>" or "sha256:<xml digest>" for bare XML without identifiers
    # harvester.identity: "PMC123", "pmid:123", "doi:<doi, lower case>" (300 characters at most) or "sha256:<hex>"
    article_key: Mapped[str] = mapped_column(String(320), unique=True)
    pmcid: Mapped[str | None] = mapped_column(String(20), index=True)
    version: Mapped[int | None] = mapped_column(Integer)
    pmid: Mapped[str | None] = mapped_column(String(20), index=True)
    doi: Mapped[str | None] = mapped_column(String(300), index=True)
    title: Mapped[str | None] = mapped_column(Text)
    journal: Mapped[str | None] = mapped_column(String(500), index=True)
    year: Mapped[int | None] = mapped_column(SmallInteger, index=True)
    pub_date: Mapped[date | None] = mapped_column(Date)  # decides between two copies (harvester.identity)
    article_type: Mapped[str | None] = mapped_column(String(100))
    license_code: Mapped[str | None] = mapped_column(String(40), index=True)
    license_url: Mapped[str | None] = mapped_column(Text)
    retracted: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    is_manuscript: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    source: Mapped[str] = mapped_column(String(20))  # s3 | europepmc | local | package | xml
    origin: Mapped[str | None] = mapped_column(Text)  # bucket prefix, URL or path it came from
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    xml_sha256: Mapped[str] = mapped_column(String(64))
    xml_blob_key: Mapped[str | None] = mapped_column(String(200))
    pdf_blob_key: Mapped[str | None] = mapped_column(String(200))
    # file name -> md5/sha256 of every file of the version; with xml_sha256 it decides "already stored"
    file_hashes: Mapped[dict] = mapped_column(JSONB, default=dict, server_default="{}")
    content_hash: Mapped[str] = mapped_column(String(64))
    warnings: Mapped[list] = mapped_column(JSONB, default=list, server_default="[]")

    figures: Mapped[list[Figure]] = relationship(
        back_populates="article", cascade="all, delete-orphan", passive_deletes=True, order_by="Figure.ordinal"
    )
    citances: Mapped[list[Citance]] = relationship(
        back_populates="article", cascade="all, delete-orphan", passive_deletes=True, order_by="Citance.ordinal"
    )


# the journal filter matches case-insensitively: lower(journal) IN (...) needs its own index
Index("ix_articles_journal_lower", func.lower(Article.journal))


class Modality(Base):
    """Imaging modality vocabulary (CT, MRI, fluorescence microscopy, chart, ...) with UMLS CUIs."""

    __tablename__ = "modalities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    cui: Mapped[str | None] = mapped_column(String(20))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("modalities.id"))


class Figure(Base):
    __tablename__ = "figures"
    __table_args__ = (
        Index("ix_figures_caption_tsv", "caption_tsv", postgresql_using="gin"),
        Index(
            "ix_figures_caption_trgm",
            "caption_text",
            postgresql_using="gin",
            postgresql_ops={"caption_text": "gin_trgm_ops"},
        ),
        Index("ix_figures_sha256", "sha256"),
        Index("ix_figures_phash", "phash"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)  # document order within the article
    jats_id: Mapped[str | None] = mapped_column(String(200))
    label: Mapped[str | None] = mapped_column(String(200))
    caption_title: Mapped[str | None] = mapped_column(Text)
    caption_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    caption_xml: Mapped[str | None] = mapped_column(Text)
    context: Mapped[str] = mapped_column(String(20), default="body", server_default="body")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("figures.id", ondelete="CASCADE"), index=True)
    graphic_href: Mapped[str | None] = mapped_column(Text)
    graphics: Mapped[list] = mapped_column(JSONB, default=list, server_default="[]")  # every graphic: href, file, key
    source: Mapped[str] = mapped_column(String(8), default="xml", server_default="xml")  # xml | pdf
    image_key: Mapped[str | None] = mapped_column(String(200))
    image_format: Mapped[str | None] = mapped_column(String(10))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    phash: Mapped[str | None] = mapped_column(String(32))
    image_error: Mapped[str | None] = mapped_column(Text)
    # filled by the detector and caption work (later stages)
    is_compound: Mapped[bool | None] = mapped_column(Boolean)
    n_panels: Mapped[int | None] = mapped_column(SmallInteger)
    modality_id: Mapped[int | None] = mapped_column(ForeignKey("modalities.id"), index=True)
    modality_score: Mapped[float | None] = mapped_column(Float)
    detected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the caption stage (pipeline.caption_stage): concepts, panel modalities, panel citances
    annotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    annotation_error: Mapped[str | None] = mapped_column(Text)
    # the figure's modalities: the set of its panels' codes (its own code when it has no panels)
    modalities: Mapped[list[str]] = mapped_column(ARRAY(String(80)), default=list, server_default="{}")
    modality_evidence: Mapped[list] = mapped_column(JSONB, default=list, server_default="[]")
    caption_tsv = mapped_column(
        TSVECTOR,
        Computed(
            "setweight(to_tsvector('english', coalesce(caption_title, '')), 'A') || "
            "setweight(to_tsvector('english', coalesce(caption_text, '')), 'B')",
            persisted=True,
        ),
    )

    article: Mapped[Article] = relationship(back_populates="figures")
    subfigures: Mapped[list[Subfigure]] = relationship(
        back_populates="figure", cascade="all, delete-orphan", passive_deletes=True, order_by="Subfigure.ordinal"
    )
    subcaptions: Mapped[list[Subcaption]] = relationship(
        back_populates="figure", cascade="all, delete-orphan", passive_deletes=True, order_by="Subcaption.ordinal"
    )


class Citance(Base):
    """A sentence that cites one or more figures, with the panel letters it names."""

    __tablename__ = "citances"
    __table_args__ = (Index("ix_citances_text_tsv", "text_tsv", postgresql_using="gin"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    section: Mapped[str | None] = mapped_column(Text)
    panels: Mapped[list[str]] = mapped_column(ARRAY(String(16)), default=list, server_default="{}")
    xref_texts: Mapped[list] = mapped_column(JSONB, default=list, server_default="[]")
    text_tsv = mapped_column(TSVECTOR, Computed("to_tsvector('english', text)", persisted=True))

    article: Mapped[Article] = relationship(back_populates="citances")
    targets: Mapped[list[CitanceFigure]] = relationship(
        back_populates="citance", cascade="all, delete-orphan", passive_deletes=True
    )


class CitanceFigure(Base):
    """Which figure a citance cites, and which of its panels."""

    __tablename__ = "citance_figures"

    citance_id: Mapped[int] = mapped_column(ForeignKey("citances.id", ondelete="CASCADE"), primary_key=True)
    figure_id: Mapped[int] = mapped_column(ForeignKey("figures.id", ondelete="CASCADE"), primary_key=True, index=True)
    panels: Mapped[list[str]] = mapped_column(ARRAY(String(16)), default=list, server_default="{}")

    citance: Mapped[Citance] = relationship(back_populates="targets")


class CitanceSubfigure(Base):
    """A citance that names a panel's letter ("Fig. 2B"), tied to that panel by the caption stage."""

    __tablename__ = "citance_subfigures"

    citance_id: Mapped[int] = mapped_column(ForeignKey("citances.id", ondelete="CASCADE"), primary_key=True)
    subfigure_id: Mapped[int] = mapped_column(
        ForeignKey("subfigures.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Subfigure(Base):
    """One panel of a figure, as the detector found it (box in original pixels)."""

    __tablename__ = "subfigures"
    # one row per panel: two detectors racing on a figure cannot both store its panels
    __table_args__ = (UniqueConstraint("figure_id", "ordinal", name="uq_subfigures_figure_ordinal"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    figure_id: Mapped[int] = mapped_column(ForeignKey("figures.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int] = mapped_column(SmallInteger)  # reading order
    x1: Mapped[int] = mapped_column(Integer)
    y1: Mapped[int] = mapped_column(Integer)
    x2: Mapped[int] = mapped_column(Integer)
    y2: Mapped[int] = mapped_column(Integer)
    score: Mapped[float | None] = mapped_column(Float)
    method: Mapped[str | None] = mapped_column(String(20))  # yolo | xycut | whole
    label: Mapped[str | None] = mapped_column(String(16))
    label_box: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    label_score: Mapped[float | None] = mapped_column(Float)
    image_key: Mapped[str | None] = mapped_column(String(200))
    modality_id: Mapped[int | None] = mapped_column(ForeignKey("modalities.id"), index=True)
    modality_score: Mapped[float | None] = mapped_column(Float)  # the classifier's confidence
    modality_evidence: Mapped[list] = mapped_column(JSONB, default=list, server_default="[]")

    figure: Mapped[Figure] = relationship(back_populates="subfigures")


class Subcaption(Base):
    """The part of a caption that belongs to one panel."""

    __tablename__ = "subcaptions"
    __table_args__ = (Index("ix_subcaptions_tsv", "text_tsv", postgresql_using="gin"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    figure_id: Mapped[int] = mapped_column(ForeignKey("figures.id", ondelete="CASCADE"), index=True)
    subfigure_id: Mapped[int | None] = mapped_column(ForeignKey("subfigures.id", ondelete="SET NULL"), index=True)
    ordinal: Mapped[int] = mapped_column(SmallInteger)
    label: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    full_text: Mapped[str] = mapped_column(Text)
    flag: Mapped[str | None] = mapped_column(String(40))  # e.g. whole-caption fallback
    text_tsv = mapped_column(TSVECTOR, Computed("to_tsvector('english', full_text)", persisted=True))

    figure: Mapped[Figure] = relationship(back_populates="subcaptions")


class Concept(Base):
    __tablename__ = "concepts"
    __table_args__ = (
        UniqueConstraint("vocab", "code"),
        Index("ix_concepts_name_trgm", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}),
        Index("ix_concepts_name_lower", func.lower(text("name"))),  # the concept filter by name
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    vocab: Mapped[str] = mapped_column(String(16))  # MSH | UMLS | FIGMINE
    code: Mapped[str] = mapped_column(String(40))  # D006528, C0040405, ...
    name: Mapped[str] = mapped_column(Text)
    semantic_types: Mapped[list[str]] = mapped_column(ARRAY(String(16)), default=list, server_default="{}")


class ConceptMention(Base):
    """A concept found in a caption, subcaption or citance (figure_concepts)."""

    __tablename__ = "concept_mentions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    concept_id: Mapped[int] = mapped_column(ForeignKey("concepts.id", ondelete="CASCADE"), index=True)
    figure_id: Mapped[int] = mapped_column(ForeignKey("figures.id", ondelete="CASCADE"), index=True)
    subfigure_id: Mapped[int | None] = mapped_column(ForeignKey("subfigures.id", ondelete="CASCADE"), index=True)
    subcaption_id: Mapped[int | None] = mapped_column(ForeignKey("subcaptions.id", ondelete="CASCADE"))
    citance_id: Mapped[int | None] = mapped_column(ForeignKey("citances.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(16))  # caption | subcaption | citance (the text kind)
    start: Mapped[int] = mapped_column(Integer)  # character span in that text (caption_text, subcaption text, citance text)
    end: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)


class HarvestRun(Base):
    __tablename__ = "harvest_runs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="running", server_default="running")
    params: Mapped[dict] = mapped_column(JSONB, default=dict, server_default="{}")
    total: Mapped[int | None] = mapped_column(Integer)  # discovered so far (None while unknown)
    done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    skipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # of `done`: stored with something missing; stored over a lower-ranked copy. Of `skipped`: not
    # stored because a higher-ranked copy of the same identity is (store.runs.STATUSES)
    partial: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    replaced: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    conflict: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    # the process running a local run: a run still `running` whose process is gone was killed
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    workdir: Mapped[str | None] = mapped_column(Text)  # its temporary files, removed when it was killed


class HarvestItem(Base):
    """Per-article outcome of a run (store.runs.STATUSES) with its reason, and where it came from."""

    __tablename__ = "harvest_items"
    __table_args__ = (Index("ix_harvest_items_run_status", "run_id", "status"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("harvest_runs.id", ondelete="CASCADE"))
    item: Mapped[str] = mapped_column(Text)  # PMCID, path or URL
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
    article_key: Mapped[str | None] = mapped_column(String(320))  # the identity it was stored (or judged) under
    origin: Mapped[str | None] = mapped_column(Text)  # the input: file path, package, bucket prefix or URL
    other_origin: Mapped[str | None] = mapped_column(Text)  # replaced / conflict: the other copy's origin
    status: Mapped[str] = mapped_column(String(16))  # ok | partial | replaced | skipped | conflict | failed | queued
    reason: Mapped[str | None] = mapped_column(Text)  # why partial, skipped, replaced, conflict or failed
    source: Mapped[str | None] = mapped_column(String(20))
    n_figures: Mapped[int | None] = mapped_column(Integer)
    seconds: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ApiKey(Base):
    """A key for the write endpoints (harvests, exports); only its SHA-256 is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(12), index=True)  # first characters, to tell keys apart
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")


class Export(Base):
    """An export job: its query, progress, outcome and the files it wrote."""

    __tablename__ = "exports"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="queued", server_default="queued")
    format: Mapped[str] = mapped_column(String(16))  # webdataset | parquet | jsonl | csv
    level: Mapped[str] = mapped_column(String(16), default="figure", server_default="figure")
    params: Mapped[dict] = mapped_column(JSONB, default=dict, server_default="{}")  # filters, seed, splits, dedup
    total: Mapped[int | None] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    counts: Mapped[dict] = mapped_column(JSONB, default=dict, server_default="{}")  # per split, duplicates removed
    files: Mapped[list] = mapped_column(JSONB, default=list, server_default="[]")  # relative paths + sizes
    location: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)

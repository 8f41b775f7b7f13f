"""Turn an `ArticleBundle` into rows ready to store: parse the JATS, match and load figure images.

Everything here is CPU and file work with no database, so it runs in worker threads or processes;
`pipeline.store_article` then writes one article per transaction.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from captions.modality import ModalityResult, classify_figure
from captions.subcaptions import Subcaption, split_caption
from harvester.identity import Claim, Identity, resolve_identity
from harvester.images import REDUCED_SIDE, ImageError, load_image
from harvester.jats import parse_jats
from harvester.licenses import normalise_license
from harvester.media_match import match_graphic
from harvester.records import ArticleBundle, ParsedArticle, ParsedFigure
from store.blobs import BlobStore

RASTER_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".tif", ".tiff", ".bmp", ".webp"}


@dataclass
class FigureImage:
    href: str
    file: str | None
    key: str | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    sha256: str | None = None
    phash: str | None = None
    error: str | None = None


@dataclass
class PreparedFigure:
    parsed: ParsedFigure
    images: list[FigureImage]
    source: str = "xml"  # xml | pdf
    subcaptions: list[Subcaption] = field(default_factory=list)
    modality: ModalityResult | None = None
    modalities: list[str] = field(default_factory=list)  # every modality the caption names

    @property
    def primary(self) -> FigureImage | None:
        """The figure's image: the first graphic that loaded, else the first one we tried."""
        for image in self.images:
            if image.key:
                return image
        return None

    @property
    def image_error(self) -> str | None:
        errors = [f"{i.href}: {i.error}" for i in self.images if i.error]
        return "; ".join(errors) or None


@dataclass
class PreparedArticle:
    identity: Identity
    parsed: ParsedArticle
    bundle: ArticleBundle
    xml_sha256: str
    xml_blob_key: str | None
    pdf_blob_key: str | None
    file_hashes: dict[str, str]
    content_hash: str
    figures: list[PreparedFigure]
    license_code: str | None
    warnings: list[str] = field(default_factory=list)
    single: bool = True  # the only article of its file (the source's own metadata describes it)

    @property
    def key(self) -> str:
        return self.identity.key

    @property
    def image_errors(self) -> list[str]:
        return [f.image_error for f in self.figures if f.image_error]

    @property
    def incomplete(self) -> list[str]:
        """Why the stored article will lack something of its input (item status `partial`)."""
        return self.image_errors + list(self.parsed.losses)

    @property
    def claim(self) -> Claim:
        return Claim(self.identity.version, self.parsed.pub_date, sum(1 for f in self.figures if f.primary),
                     self.content_hash)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def content_hash(xml_sha256: str, file_hashes: dict[str, str], version: int | None, index: int | None = None) -> str:
    """One digest over the XML, every file and the version (and which article of a multi-article
    file): equal digests mean nothing to re-store."""
    lines = [f"version:{version}", f"xml:{xml_sha256}"] + [f"{k}:{v}" for k, v in sorted(file_hashes.items())]
    if index is not None:
        lines.append(f"article:{index}")
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def describe_figures(figures: list[PreparedFigure], parsed: ParsedArticle) -> None:
    """Caption work that needs no image: subcaptions and the figure's modalities from its
    subcaptions (else its caption's sentences) and the sentences citing it. A caption the splitter cannot handle costs only its subcaptions."""
    citing: dict[str, list[str]] = {}
    for citance in parsed.citances:
        for jats_id in citance.figure_ids:
            citing.setdefault(jats_id, []).append(citance.text)
    for figure in figures:
        caption = figure.parsed.caption_text or ""
        try:
            figure.subcaptions = split_caption(caption, figure.parsed.caption_xml) if caption else []
        except Exception as exc:  # noqa: BLE001 - the figure is still stored, with the reason
            parsed.warnings.append(f"subcaption split failed for {figure.parsed.jats_id}: {exc}")
        texts = citing.get(figure.parsed.jats_id or "", [])
        if caption or texts:
            fm = classify_figure(caption, citances=tuple(texts),
                                 subcaptions=[(s.label, s.text) for s in figure.subcaptions])
            figure.modality, figure.modalities = fm.dominant, fm.codes


def _figure_number(label: str | None) -> str | None:
    """'Figure 3' → '3', 'Fig. S2' → 'S2' (to pair PDF figures with JATS figures)."""
    if not label:
        return None
    m = re.search(r"(S?\d+[A-Za-z]?)\s*\.?\s*$", label.strip(), re.IGNORECASE)
    return m.group(1).upper() if m else None


class Preparer:
    """Parses bundles and stores their raw files in the blob store."""

    def __init__(self, blobs: BlobStore, *, max_image_pixels: int):
        self.blobs = blobs
        self.max_image_pixels = max_image_pixels

    def prepare(self, bundle: ArticleBundle) -> list[PreparedArticle]:
        if bundle.xml_path is None:
            raise ValueError("bundle has no XML")
        xml = bundle.xml_path.read_bytes()
        parsed_articles = parse_jats(xml, source_name=bundle.origin or str(bundle.xml_path))
        xml_sha = hashlib.sha256(xml).hexdigest()
        xml_key = self.blobs.put_bytes(xml, "xml")
        pdf_key = self.blobs.put_file(bundle.pdf_path) if bundle.pdf_path else None
        # md5 from the source where it gave one (compared before download next time), else sha256
        file_hashes = {name: bundle.checksums.get(name) or sha256_file(path) for name, path in bundle.files.items()}
        for path in (bundle.xml_path, bundle.pdf_path):
            if path is not None:
                file_hashes.setdefault(path.name, bundle.checksums.get(path.name) or sha256_file(path))
        loaded: dict[str, FigureImage] = {}  # one load per file even when several figures share it
        # a bare XML file that came with no file at all is text only: its figures lack images by
        # nature of the input, not by loss
        text_only = bundle.source == "xml" and not bundle.files and bundle.pdf_path is None
        single = len(parsed_articles) == 1
        prepared: list[PreparedArticle] = []
        for index, parsed in enumerate(parsed_articles):
            identity = resolve_identity(parsed, bundle, single=single, xml_sha256=xml_sha, index=index)
            figures = [self._prepare_figure(fig, bundle, loaded, text_only) for fig in parsed.figures]
            if bundle.pdf_path is not None and figures and not any(f.primary for f in figures):
                self._figures_from_pdf(bundle.pdf_path, figures, parsed.warnings)
            describe_figures(figures, parsed)
            source_license = normalise_license(bundle.license_code) if single else None
            prepared.append(
                PreparedArticle(
                    identity=identity,
                    parsed=parsed,
                    bundle=bundle,
                    xml_sha256=xml_sha,
                    xml_blob_key=xml_key,
                    pdf_blob_key=pdf_key if single else None,
                    file_hashes=file_hashes,
                    content_hash=content_hash(xml_sha, file_hashes, identity.version, None if single else index),
                    figures=figures,
                    license_code=source_license or parsed.license_code,
                    warnings=list(bundle.warnings) + list(identity.warnings) + list(parsed.warnings),
                    single=single,
                )
            )
        return prepared

    def _prepare_figure(
        self, fig: ParsedFigure, bundle: ArticleBundle, loaded: dict[str, FigureImage], text_only: bool
    ) -> PreparedFigure:
        images: list[FigureImage] = []
        for href in fig.graphic_hrefs:
            name = match_graphic(href, bundle.files)
            if name is None:
                gone = match_graphic(href, bundle.missing)  # listed by the source, not delivered
                if gone is not None:
                    error = bundle.missing[gone]
                else:
                    error = None if text_only else "no such file came with the article"
                images.append(FigureImage(href=href, file=None, error=error))
                continue
            if name not in loaded:
                loaded[name] = self._load(href, name, bundle.files[name])
            cached = loaded[name]
            images.append(FigureImage(**{**cached.__dict__, "href": href}))
        return PreparedFigure(parsed=fig, images=images)

    def _load(self, href: str, name: str, path: Path) -> FigureImage:
        if path.suffix.lower() not in RASTER_SUFFIXES:
            return FigureImage(href=href, file=name, error=f"not a raster image ({path.suffix or 'no extension'})")
        try:
            # only the size, hashes and pHash are kept: a very large image is decoded reduced
            info = load_image(path, max_pixels=self.max_image_pixels, max_side=REDUCED_SIDE)
        except ImageError as exc:
            return FigureImage(href=href, file=name, error=str(exc))
        key = self.blobs.put_file(path)
        return FigureImage(
            href=href,
            file=name,
            key=key,
            format=info.format,
            width=info.width,
            height=info.height,
            sha256=info.sha256,
            phash=info.phash,
        )

    def _figures_from_pdf(self, pdf_path: Path, figures: list[PreparedFigure], warnings: list[str]) -> None:
        """No figure image came with the article: take the figures from its PDF, paired by number."""
        from harvester.pdf_figures import PdfError, extract_pdf_figures

        try:
            pdf_figures = extract_pdf_figures(pdf_path)
        except PdfError as exc:
            warnings.append(f"PDF figure extraction failed: {exc}")
            return
        by_number = {}
        for pdf_fig in pdf_figures:
            by_number.setdefault((pdf_fig.number or "").upper(), pdf_fig)
        for figure in figures:
            number = _figure_number(figure.parsed.label)
            pdf_fig = by_number.get(number or "")
            if pdf_fig is None:
                continue
            try:
                info = load_image(pdf_fig.image_bytes, max_pixels=self.max_image_pixels, max_side=REDUCED_SIDE)
            except ImageError as exc:
                figure.images.append(FigureImage(href=f"pdf:page{pdf_fig.page}", file=None, error=str(exc)))
                continue
            key = self.blobs.put_bytes(pdf_fig.image_bytes, info.format.lower() if info.format else "png")
            for image in figure.images:  # the PDF's picture stands in for graphics that never came
                if image.file is None:
                    image.error = None
            figure.images.insert(
                0,
                FigureImage(
                    href=f"pdf:page{pdf_fig.page}",
                    file=pdf_path.name,
                    key=key,
                    format=info.format,
                    width=info.width,
                    height=info.height,
                    sha256=info.sha256,
                    phash=info.phash,
                ),
            )
            figure.source = "pdf"

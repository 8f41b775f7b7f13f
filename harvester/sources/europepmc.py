"""Europe PMC as the second source, for articles the PMC bucket lacks.

Full text: `{FIGMINE_EUROPEPMC_URL}/{PMCID}/fullTextXML` (JATS; 404 when Europe PMC has no full text).
Figures: every `<graphic xlink:href>` of the XML is fetched from
`{FIGMINE_EUROPEPMC_FIGURES_URL}/{PMCID}/bin/{href}.jpg`. That path is a web-site path, not an API: it has
been seen answering an HTML challenge page or a redirect to HTML instead of the image, so an answer is
accepted only when its bytes are an image. Figures it does not deliver are taken from the REST API's
`{PMCID}/supplementaryFiles?includeInlineImage=true` ZIP (the article's images and supplementary files),
matched by file stem. Figures found nowhere are listed in the bundle's warnings.
"""

from __future__ import annotations

import logging
import shutil
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from lxml import etree

from figmine.settings import Settings, get_settings
from harvester.http import Download, Limiter, RetryPolicy, download, get_client
from harvester.records import ArticleBundle, SourceError
from harvester.sources.pmc_metadata import normalise_pmcid

log = logging.getLogger(__name__)

XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_WEB_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif")
_IMAGE_EXTENSIONS = {"jpg", "jpeg", "png", "gif", "tif", "tiff", "eps", "bmp"}
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*")
Accept = Callable[[httpx.Response, bytes], str | None]
MAX_ZIP_MEMBER_BYTES = 200 * 1024 * 1024  # refuse absurd members (zip bombs) when extracting figures


def _is_xml(response: httpx.Response, head: bytes) -> str | None:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"<"):
        return f"not XML (starts with {text[:16]!r})"
    if text[:200].lower().startswith((b"<!doctype html", b"<html")):
        return "an HTML page, not article XML"
    return None


def _is_image(response: httpx.Response, head: bytes) -> str | None:
    if head.startswith(_IMAGE_MAGIC):
        return None
    kind = response.headers.get("content-type", "?")
    return f"not an image ({kind}, starts with {head[:16]!r})"


def _image_stem(name: str) -> str:
    """`name` without an image extension ("pone.0012255.g001" keeps its ".g001")."""
    stem, dot, ext = name.rpartition(".")
    return stem if dot and ext.lower() in _IMAGE_EXTENSIONS else name


def figure_file_name(href: str) -> str:
    """The name Europe PMC serves a graphic under: hrefs usually lack an extension; non-web formats are
    served as JPEG renditions."""
    stem, dot, ext = href.rpartition(".")
    if dot and ("." + ext.lower()) in _WEB_IMAGE_SUFFIXES:
        return href
    if dot and ext.lower() in ("tif", "tiff", "eps", "bmp"):
        return f"{stem}.jpg"
    return f"{href}.jpg"


def graphic_hrefs(xml_path: Path) -> list[str]:
    """`xlink:href` of every <graphic> (figures, table images; not inline formulas), in document order."""
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=True)
    root = etree.parse(str(xml_path), parser).getroot()
    if root is None:
        return []
    hrefs: list[str] = []
    for graphic in root.iter("graphic"):
        href = (graphic.get(XLINK_HREF) or "").strip()
        if href and "://" not in href and href not in hrefs:
            hrefs.append(href)
    return hrefs


def _article_ids(xml_path: Path) -> dict[str, str | None]:
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=True)
    root = etree.parse(str(xml_path), parser).getroot()
    if root is None:
        return {}

    def first(path: str) -> str | None:
        found = root.xpath(path)
        text = " ".join("".join(found[0].itertext()).split()) if found else ""
        return text or None

    return {
        "pmid": first(".//article-meta/article-id[@pub-id-type='pmid']"),
        "doi": first(".//article-meta/article-id[@pub-id-type='doi']"),
        "title": first(".//article-meta/title-group/article-title"),
    }


class EuropePmcSource:
    """Fetch an article's XML and figures from Europe PMC. Thread-safe: share one instance."""

    name = "europepmc"

    def __init__(
        self,
        work_dir: Path | None = None,
        *,
        settings: Settings | None = None,
        client: httpx.Client | None = None,
        policy: RetryPolicy | None = None,
        limiter: Limiter | None = None,
        base_url: str | None = None,
        figures_url: str | None = None,
        download_workers: int | None = None,
    ):
        s = settings or get_settings()
        self.work_dir = Path(work_dir) if work_dir is not None else s.home / "work"
        self.client = client or get_client()
        self.policy = policy or RetryPolicy.from_settings(s)
        self.limiter = limiter
        self.base_url = (base_url or s.europepmc_url).rstrip("/")
        self.figures_url = (figures_url or s.europepmc_figures_url).rstrip("/")
        self.download_workers = max(1, download_workers or s.download_workers)

    def _get(self, url: str, dest: Path, accept: Accept | None, **kwargs: Any) -> Download:
        return download(self.client, url, dest, policy=self.policy, limiter=self.limiter, accept=accept,
                        **kwargs)

    def fetch(self, pmcid: str, *, work_dir: Path | None = None) -> ArticleBundle:
        """XML and figures into `<work_dir>/PMC<id>.europepmc/` (`work_dir` defaults to the constructor's).

        Raises SourceError: not retriable for a 404 or a non-XML answer, retriable for 5xx/429/transport.
        """
        pmcid = normalise_pmcid(pmcid)
        article_dir = Path(work_dir or self.work_dir) / f"{pmcid}.europepmc"
        article_dir.mkdir(parents=True, exist_ok=True)
        try:
            return self._fetch(pmcid, article_dir)
        except BaseException:
            shutil.rmtree(article_dir, ignore_errors=True)
            raise

    def _fetch(self, pmcid: str, article_dir: Path) -> ArticleBundle:
        url = f"{self.base_url}/{pmcid}/fullTextXML"
        xml_path = article_dir / f"{pmcid}.xml"
        try:
            got = self._get(url, xml_path, _is_xml)
        except httpx.HTTPError as exc:
            raise SourceError(f"{pmcid}: Europe PMC full text unreachable: {type(exc).__name__}: {exc}",
                              pmcid=pmcid, retriable=True) from exc
        status = got.response.status_code
        if status == 404:
            raise SourceError(f"{pmcid}: Europe PMC has no full-text XML (404 from {url})", pmcid=pmcid)
        if got.rejected:
            raise SourceError(f"{pmcid}: Europe PMC full text from {url} is {got.rejected}", pmcid=pmcid)
        if got.path is None:
            raise SourceError(f"{pmcid}: Europe PMC full text: HTTP {status} from {url}", pmcid=pmcid,
                              retriable=status == 429 or status >= 500)

        hrefs = graphic_hrefs(xml_path)
        files, failures = self._fetch_figures(pmcid, hrefs, article_dir)
        warnings: list[str] = []
        if failures:
            recovered = self._figures_from_zip(pmcid, failures, article_dir, warnings)
            for path in recovered.values():
                files[path.name] = path
            for href, why in failures.items():
                if href not in recovered:
                    warnings.append(f"{pmcid}: figure {href} not available from Europe PMC ({why})")
        ids = _article_ids(xml_path)
        return ArticleBundle(
            source="europepmc",
            xml_path=xml_path,
            pmcid=pmcid,
            files=files,
            pmid=ids.get("pmid"),
            doi=ids.get("doi"),
            title=ids.get("title"),
            origin=url,
            warnings=warnings,
        )

    def _fetch_figures(self, pmcid: str, hrefs: list[str], article_dir: Path) -> tuple[dict[str, Path], dict[str, str]]:
        """Per-figure downloads in parallel: ({file name: path}, {href: why it failed})."""
        files: dict[str, Path] = {}
        failures: dict[str, str] = {}
        if not hrefs:
            return files, failures

        def one(href: str) -> tuple[str, Path | None, str]:
            name = figure_file_name(href)
            url = f"{self.figures_url}/{pmcid}/bin/{quote(name)}"
            try:
                got = self._get(url, article_dir / name, _is_image)
            except httpx.HTTPError as exc:
                return href, None, f"{type(exc).__name__} from {url}"
            if got.path is not None:
                return href, got.path, ""
            return href, None, got.rejected or f"HTTP {got.response.status_code} from {url}"

        with ThreadPoolExecutor(max_workers=min(self.download_workers, len(hrefs)),
                                thread_name_prefix=f"epmc-{pmcid}") as pool:
            for href, path, why in pool.map(one, hrefs):
                if path is not None:
                    files[path.name] = path
                else:
                    failures[href] = why
        return files, failures

    def _figures_from_zip(
        self, pmcid: str, failures: dict[str, str], article_dir: Path, warnings: list[str]
    ) -> dict[str, Path]:
        """Figures missing after the per-figure pass, taken from the supplementary-files ZIP by stem:
        {href: extracted path}."""
        url = f"{self.base_url}/{pmcid}/supplementaryFiles"
        zip_path = article_dir / f".{pmcid}.supplementary.zip"
        try:
            got = self._get(url, zip_path, None, params={"includeInlineImage": "true"})
        except httpx.HTTPError as exc:
            warnings.append(f"{pmcid}: supplementary-files archive unreachable: {type(exc).__name__}")
            return {}
        if got.path is None:
            log.info("%s: no supplementary-files archive (HTTP %s)", pmcid, got.response.status_code)
            return {}
        wanted = {_image_stem(h).lower(): h for h in failures}
        found: dict[str, Path] = {}
        try:
            with zipfile.ZipFile(zip_path) as archive:
                for member in archive.infolist():
                    base = Path(member.filename).name  # never trust member paths
                    stem = _image_stem(base)
                    if member.is_dir() or stem == base or stem.lower() not in wanted:
                        continue
                    if member.file_size > MAX_ZIP_MEMBER_BYTES:
                        warnings.append(f"{pmcid}: {base} in the supplementary archive is too large")
                        continue
                    target = article_dir / base
                    with archive.open(member) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    found[wanted[stem.lower()]] = target
        except zipfile.BadZipFile:
            warnings.append(f"{pmcid}: supplementary-files archive from {url} is not a ZIP")
        finally:
            zip_path.unlink(missing_ok=True)
        return found

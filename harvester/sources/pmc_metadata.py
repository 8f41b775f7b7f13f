"""The per-version metadata JSON of the PMC Cloud Service bucket (`pmc-oa-opendata`).

Layout (FORMATS.md §4): `PMC<id>.<ver>/PMC<id>.<ver>.json`, also under `metadata/`. URLs look like
`s3://pmc-oa-opendata/PMC123.1/gr1.jpg?md5=<32 hex>`: the key is the path, the md5 is the object digest.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

PMCID_RE = re.compile(r"^PMC(\d+)$", re.IGNORECASE)
VERSIONED_PREFIX_RE = re.compile(r"^(PMC\d+)\.(\d+)/?$")


@dataclass(frozen=True)
class S3Object:
    key: str  # e.g. "PMC12855588.1/gr1.jpg"
    md5: str | None  # lower-case hex, from the URL's ?md5=

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


@dataclass
class PmcMetadata:
    pmcid: str
    version: int
    pmid: str | None
    doi: str | None
    mid: str | None
    title: str | None
    citation: str | None
    license_code: str | None
    is_openaccess: bool
    is_manuscript: bool
    is_retracted: bool
    xml: S3Object | None
    pdf: S3Object | None
    text: S3Object | None
    media: list[S3Object] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return f"{self.pmcid}.{self.version}/"


def parse_s3_url(url: str) -> S3Object:
    """`s3://bucket/key?md5=...` (or https://host/key?md5=...) → S3Object(key, md5)."""
    parts = urlsplit(url)
    key = parts.path.lstrip("/")
    if parts.scheme in ("http", "https") and parts.netloc.startswith("pmc-oa-opendata."):
        pass  # virtual-hosted style: the path is the key
    md5 = parse_qs(parts.query).get("md5", [None])[0]
    if md5 is not None and not re.fullmatch(r"[0-9a-fA-F]{32}", md5):
        md5 = None
    return S3Object(key=key, md5=md5.lower() if md5 else None)


def normalise_pmcid(value: str | int) -> str:
    """'12345', 'pmc12345', 'PMC12345.2' → 'PMC12345'. Raises ValueError on anything else."""
    text = str(value).strip()
    text = text.split(".", 1)[0] if re.fullmatch(r"(?i)pmc\d+\.\d+", text) else text
    if text.isdigit():
        return f"PMC{text}"
    m = PMCID_RE.match(text)
    if not m:
        raise ValueError(f"not a PMCID: {value!r}")
    return f"PMC{m.group(1)}"


def parse_metadata(raw: bytes | str | dict) -> PmcMetadata:
    """Parse one metadata JSON document; raises ValueError with a clear message when it is unusable."""
    try:
        data = raw if isinstance(raw, dict) else json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"metadata is not JSON: {exc}") from exc
    if not isinstance(data, dict) or "pmcid" not in data:
        raise ValueError("metadata JSON has no 'pmcid'")

    def url(name: str) -> S3Object | None:
        value = data.get(name)
        return parse_s3_url(value) if isinstance(value, str) and value else None

    pmid = data.get("pmid")
    return PmcMetadata(
        pmcid=normalise_pmcid(data["pmcid"]),
        version=int(data.get("version") or 1),
        pmid=str(pmid) if pmid not in (None, "") else None,
        doi=data.get("doi") or None,
        mid=data.get("mid") or None,
        title=data.get("title") or None,
        citation=data.get("citation") or None,
        license_code=data.get("license_code") or None,
        is_openaccess=bool(data.get("is_pmc_openaccess", True)),
        is_manuscript=bool(data.get("is_manuscript", False)),
        is_retracted=bool(data.get("is_retracted", False)),
        xml=url("xml_url"),
        pdf=url("pdf_url"),
        text=url("text_url"),
        media=[parse_s3_url(u) for u in data.get("media_urls") or [] if isinstance(u, str)],
    )

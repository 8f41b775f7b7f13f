"""The per-version metadata JSON of the PMC Cloud Service bucket (`pmc-oa-opendata`).

Layout (FORMATS.md §4): `PMC<id>.<ver>/PMC<id>.<ver>.json`, also under `metadata/`. URLs look like
`s3://pmc-oa-opendata/PMC123.1/gr1.jpg?md5=<32 hex>`: the key is the path, the md5 is the object digest.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

PMCID_RE = re.compile(r"^PMC(\d+)$", re.IGNORECASE)
VERSIONED_PREFIX_RE = re.compile(r"^(PMC\d+)\.(\d+)/?$")

# Bounds of a sane document. Real ones are 1-3 KB (a few hundred KB with thousands of media files); PMC
# and PubMed ids have 8 digits today; versions are small and the store keeps them in a 32-bit column.
MAX_METADATA_BYTES = 16 << 20
MAX_ID_DIGITS = 12
MAX_VERSION = 2**31 - 1
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


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


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
               float: "a number with a fraction or an exponent", type(None): "null"}


def _json_type(value: object) -> str:
    # the type, never the value: a hostile value may be huge (and a 5,000-digit int cannot even be printed)
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _id_text(value: object, what: str) -> str:
    """A JSON number or string that should hold an id, as text of bounded length (never str() of a
    5,000-digit int: Python refuses to convert it)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"expected a {what}, got {_json_type(value)}")
    if isinstance(value, int):
        if not 0 < value < 10**MAX_ID_DIGITS:
            raise ValueError(f"not a {what} (1 to {MAX_ID_DIGITS} digits)")
        return str(value)
    if len(value) > MAX_ID_DIGITS + 20:  # room for "PMC", a ".<version>" and spaces
        raise ValueError(f"not a {what} (1 to {MAX_ID_DIGITS} digits)")
    return value.strip()


def _pmcid(value: object) -> str:
    pmcid = normalise_pmcid(_id_text(value, "PMCID"))
    if len(pmcid) > MAX_ID_DIGITS + 3:
        raise ValueError(f"not a PMCID (1 to {MAX_ID_DIGITS} digits)")
    return pmcid


def _pmid(value: object) -> str | None:
    """Real documents give the PMID as a number, a string of digits, null or ""."""
    if value is None or value == "":
        return None
    text = _id_text(value, "PMID")
    if not re.fullmatch(rf"\d{{1,{MAX_ID_DIGITS}}}", text):
        raise ValueError(f"not a PMID (1 to {MAX_ID_DIGITS} digits)")
    return text


def _s3_url(value: object) -> S3Object | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected a URL, got {_json_type(value)}")
    obj = parse_s3_url(value)
    if _CONTROL_RE.search(obj.key):
        raise ValueError("the object key holds control characters")
    return obj


def _or_none(value: str | None) -> str | None:
    return value or None


_Text = Annotated[str | None, AfterValidator(_or_none)]
_Url = Annotated[S3Object | None, BeforeValidator(_s3_url)]
# null is read as "not said": the bucket's defaults apply
_Flag = bool | None


class _MetadataDocument(BaseModel):
    """The bucket's per-version metadata JSON (FORMATS.md §4), as far as figmine reads it.

    Strict: a document of the wrong shape is refused, never coerced (`"version": [1]`, `1e30`).
    Unknown keys are ignored; missing ones and nulls take the bucket's defaults.
    """

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    pmcid: Annotated[str, BeforeValidator(_pmcid)]
    version: Annotated[int, Field(ge=1, le=MAX_VERSION)] | None = None
    pmid: Annotated[str | None, BeforeValidator(_pmid)] = None
    doi: _Text = None
    mid: _Text = None
    title: _Text = None
    citation: _Text = None
    license_code: _Text = None
    is_pmc_openaccess: _Flag = None
    is_manuscript: _Flag = None
    is_retracted: _Flag = None
    xml_url: _Url = None
    pdf_url: _Url = None
    text_url: _Url = None
    media_urls: list[_Url] | None = None


def _one_line(error: ValidationError) -> str:
    """The first problem of a validation error on one line: the field, what was wrong, and the JSON
    type that was there, never the value (it may be megabytes)."""
    problems = error.errors(include_url=False, include_context=True, include_input=True)
    first = problems[0]
    kind, loc = first["type"], first["loc"]
    if kind == "json_invalid":
        error = first.get("ctx", {}).get("error", first["msg"])
        if error.startswith("recursion limit exceeded"):  # pydantic's parser stops at depth 200
            return f"metadata JSON is nested too deeply ({error})"
        return f"metadata is not JSON: {error}"
    if kind == "model_type":
        return f"metadata JSON is not an object (it is {_json_type(first.get('input'))})"
    if not loc:
        return f"metadata is not JSON: {first['msg']}"
    field = loc[0] if loc else "?"
    where = str(field) + "".join(f"[{part}]" for part in loc[1:])
    if kind == "missing":
        message = f"metadata JSON has no {where!r}"
    else:
        reason = first["msg"].removeprefix("Value error, ")
        got = "" if kind == "value_error" else f" (got {_json_type(first.get('input'))})"
        message = f"metadata field {where!r}: {reason}{got}"
    more = len(problems) - 1
    return message + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


def parse_metadata(raw: bytes | str | dict) -> PmcMetadata:
    """Parse one metadata JSON document; raises ValueError with a one-line reason when it is unusable.

    The JSON is parsed by pydantic's own parser, not `json.loads`: it stops at nesting depth 200 (100,000
    nested arrays would exhaust Python's recursion limit) and refuses numbers Python cannot convert.
    """
    if isinstance(raw, (bytes, str)) and len(raw) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata JSON is {len(raw):,} bytes (limit {MAX_METADATA_BYTES:,})")
    if isinstance(raw, bytes) and (encoding := json.detect_encoding(raw)) != "utf-8":
        try:  # a BOM or UTF-16/32, which json.loads accepts in bytes; pydantic's parser reads UTF-8 only
            raw = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ValueError(f"metadata is not JSON: not valid {encoding} ({exc.reason})") from None
    try:
        doc = (_MetadataDocument.model_validate(raw) if isinstance(raw, dict)
               else _MetadataDocument.model_validate_json(raw))
    except ValidationError as exc:
        raise ValueError(_one_line(exc)) from None
    return PmcMetadata(
        pmcid=doc.pmcid,
        version=doc.version or 1,
        pmid=doc.pmid,
        doi=doc.doi,
        mid=doc.mid,
        title=doc.title,
        citation=doc.citation,
        license_code=doc.license_code,
        is_openaccess=doc.is_pmc_openaccess is not False,
        is_manuscript=bool(doc.is_manuscript),
        is_retracted=bool(doc.is_retracted),
        xml=doc.xml_url,
        pdf=doc.pdf_url,
        text=doc.text_url,
        media=[obj for obj in doc.media_urls or [] if obj is not None],
    )

"""The browse page: server-rendered HTML (Jinja2) over the same queries as the JSON routes.

- `GET /browse`: a search box with the filters of `GET /figures`, a gallery of thumbnails, keyset
  pagination with the API's own cursor, and an "export this query" panel that posts the query to
  `POST /exports` with the user's API key (static/browse.js).
- `GET /browse/figures/{id}`: the figure with its panel boxes drawn over it, subcaptions, citances
  with the references to this figure highlighted, concept and modality chips. It renders the body of
  `GET /figures/{id}` itself, so whatever that route answers is what the page shows (fields it lacks
  are left out).
- `GET /browse/figures/{id}/thumbnail?max_side=`: a JPEG of the fixed size nearest to `max_side`
  (api.images.THUMBNAIL_SIDES), made once and kept in the blob store (ETag, cached).

Pages are not part of the OpenAPI document. Everything from the corpus is escaped by Jinja2's
autoescaping (captions come from the internet), and pages carry a Content-Security-Policy that
allows scripts from this server only.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from pydantic import BaseModel, ValidationError

from api import queries
from api.deps import MAX_ID, SessionDep, SettingsDep, figure_filter
from api.images import (
    CACHE_CONTROL,
    ImageError,
    ThumbnailCache,
    etag_matches,
    stored_thumbnail,
    thumbnail_etag,
    thumbnail_side,
)
from api.pagination import decode_cursor, encode_cursor, query_hash
from api.problems import Problem
from api.routes import figures as figure_routes
from api.schemas import FilterBody
from harvester.jats.panel_refs import parse_mention
from store.blobs import BlobError
from store.filters import FigureFilter

HERE = FilePath(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
STATIC_DIR = HERE / "static"

router = APIRouter(include_in_schema=False)
FigureId = Annotated[int, Path(ge=1, le=MAX_ID)]

PAGE_SIZE = 24
MAX_PAGE_SIZE = 100
GALLERY_SIDE = 320  # thumbnails of the gallery; the figure page shows DISPLAY_SIDE
DISPLAY_SIDE = 1600
LIST_FIELDS = ("modality", "concept", "license", "journal", "pmcid")
SCALAR_FIELDS = ("q", "year_from", "year_to", "compound", "min_panels", "has_citances", "min_width",
                 "min_height", "include_retracted")
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")

thumbnails = ThumbnailCache()


def install(app: FastAPI, dependencies: list | None = None) -> None:
    """Add the pages, their static files and `/` → `/browse` to the app."""
    app.include_router(router, dependencies=dependencies or [])
    app.mount("/browse/static", StaticFiles(directory=str(STATIC_DIR)), name="browse-static")


def _root(request: Request) -> str:
    return request.scope.get("root_path", "")


def _page(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, template, {"root": _root(request), **context}, status_code=status_code
    )
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


# -- the query of a page -------------------------------------------------------------------------
@dataclass
class BrowseQuery:
    """A search page's query string, read leniently (a form sends empty fields) and checked with the
    API's own models: `filter` is what `GET /figures` would use for the same parameters."""

    form: dict[str, Any]  # what the form shows again
    pairs: list[tuple[str, str]]  # the non-empty filter parameters, for links
    filter: FigureFilter | None = None
    errors: list[str] = field(default_factory=list)
    cursor: str | None = None
    limit: int = PAGE_SIZE
    total: bool = False

    def export_filters(self) -> dict[str, Any]:
        """The filter as the body of POST /exports (FilterBody), without the empty values."""
        if self.filter is None:
            return {}
        return {k: v for k, v in asdict(self.filter).items()
                if v is not None and v != [] and v != "" and not (k == "include_retracted" and v is False)}


def _error_text(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]


async def browse_query(request: Request, settings: SettingsDep) -> BrowseQuery:
    params = request.query_params
    values: dict[str, Any] = {}
    pairs: list[tuple[str, str]] = []
    for name in LIST_FIELDS:
        items = [v.strip() for v in params.getlist(name) if v.strip()]
        if items:
            values[name] = items
            pairs.extend((name, v) for v in items)
    for name in SCALAR_FIELDS:
        raw = (params.get(name) or "").strip()
        if raw:
            values[name] = raw
            pairs.append((name, raw))
    query = BrowseQuery(form={name: values.get(name, [] if name in LIST_FIELDS else "") for name in
                              (*LIST_FIELDS, *SCALAR_FIELDS)}, pairs=pairs)
    query.cursor = (params.get("cursor") or "").strip() or None
    query.total = (params.get("total") or "").lower() in ("1", "true", "yes", "on")
    raw_limit = (params.get("limit") or "").strip()
    if raw_limit:
        if raw_limit.isdigit() and 1 <= int(raw_limit) <= MAX_PAGE_SIZE:
            query.limit = int(raw_limit)
        else:
            query.errors.append(f"limit: a number from 1 to {MAX_PAGE_SIZE}")
    try:
        body = FilterBody.model_validate(values)
    except ValidationError as exc:
        query.errors.extend(_error_text(exc))
        return query
    try:
        # the dependency of GET /figures: the same normalisation, so the same cursors
        query.filter = await figure_filter(settings, **body.model_dump())
    except Problem as exc:
        query.errors.append(exc.detail or exc.title)
    return query


BrowseQueryDep = Annotated[BrowseQuery, Depends(browse_query)]


def _href(root: str, path: str, pairs: list[tuple[str, str]]) -> str:
    return f"{root}{path}?{urlencode(pairs)}" if pairs else f"{root}{path}"


# -- the search page -----------------------------------------------------------------------------
@router.get("/", response_class=RedirectResponse)
def home(request: Request):
    return RedirectResponse(f"{_root(request)}/browse", status_code=307)


@router.get("/browse", response_class=HTMLResponse)
def search_page(request: Request, session: SessionDep, query: BrowseQueryDep):
    root = _root(request)
    context: dict[str, Any] = {"query": query, "items": [], "next_href": None, "first_href": None,
                               "total": None, "total_href": None,
                               "export_filters": query.export_filters()}
    if query.filter is None or query.errors:
        session.close()
        return _page(request, "search.html", context, status_code=422)
    f = query.filter
    try:
        after = _after(query, f)
    except Problem as exc:
        session.close()
        query.errors.append(f"{exc.detail} — start again from the first page")
        context["first_href"] = _href(root, "/browse", query.pairs)
        return _page(request, "search.html", context, status_code=422)
    result = queries.list_figures(session, f, limit=query.limit, after=after, with_total=query.total)
    session.close()
    limit_pair = [("limit", str(query.limit))] if query.limit != PAGE_SIZE else []
    back = urlencode(query.pairs + limit_pair + ([("cursor", query.cursor)] if query.cursor else []))
    items = []
    for r in result.rows:
        item = r._asdict()
        item["href"] = f"{root}/browse/figures/{r.id}" + (f"?{urlencode([('from', back)])}" if back else "")
        item["thumb"] = _thumb_size(item.get("width"), item.get("height"), GALLERY_SIDE)
        item["thumb_url"] = (f"{root}/browse/figures/{r.id}/thumbnail?max_side={GALLERY_SIDE}"
                             if item.get("has_image") else None)
        items.append(item)
    context["items"] = items
    context["total"] = result.total
    if result.next_key is not None:
        cursor = encode_cursor(result.next_key, query_hash("figures", f))
        context["next_href"] = _href(root, "/browse", query.pairs + limit_pair + [("cursor", cursor)])
    if query.cursor:
        context["first_href"] = _href(root, "/browse", query.pairs + limit_pair)
    if not query.total:
        cursor_pair = [("cursor", query.cursor)] if query.cursor else []
        context["total_href"] = _href(root, "/browse", query.pairs + limit_pair + cursor_pair + [("total", "true")])
    return _page(request, "search.html", context)


def _after(query: BrowseQuery, f: FigureFilter) -> tuple | None:
    if query.cursor is None:
        return None
    return decode_cursor(query.cursor, query_hash("figures", f), ranked=bool(f.q))


def _thumb_size(width: int | None, height: int | None, side: int) -> tuple[int, int] | None:
    """The displayed size of a thumbnail (img width/height attributes keep the layout still)."""
    if not width or not height:
        return None
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


# -- the figure page -----------------------------------------------------------------------------
def figure_detail(request: Request, session, figure_id: int) -> dict[str, Any]:
    """The body of `GET /figures/{id}` as plain JSON data (raises Problem 404)."""
    answer = figure_routes.get_figure(request, session, figure_id)
    if isinstance(answer, Response):
        return json.loads(answer.body)
    if isinstance(answer, BaseModel):
        return answer.model_dump(mode="json")
    return dict(answer)


def _back_pairs(raw: str | None) -> list[tuple[str, str]]:
    """The search a figure was opened from (`?from=`), kept to known parameters only."""
    if not raw:
        return []
    known = {*LIST_FIELDS, *SCALAR_FIELDS, "cursor", "limit"}
    return [(k, v) for k, v in parse_qsl(raw[:4000]) if k in known and v][:200]


@router.get("/browse/figures/{figure_id}", response_class=HTMLResponse)
def figure_page(request: Request, session: SessionDep, figure_id: FigureId,
                back: Annotated[str | None, Query(alias="from", max_length=4000)] = None):
    root = _root(request)
    back_href = _href(root, "/browse", _back_pairs(back))
    try:
        detail = figure_detail(request, session, figure_id)
    except Problem as exc:
        session.close()
        return _page(request, "not_found.html", {"message": exc.detail, "back_href": back_href},
                     status_code=exc.status)
    finally:
        session.close()
    width, height = detail.get("width"), detail.get("height")
    label_number = _figure_number(detail.get("label"))
    panels = [_panel_view(sf, label_number) for sf in detail.get("subfigures") or [] if isinstance(sf, dict)]
    boxes = []
    if width and height:
        for sf in panels:
            box = sf.get("box")
            if isinstance(box, dict) and all(isinstance(box.get(k), (int, float)) for k in ("x1", "y1", "x2", "y2")):
                boxes.append({"id": sf.get("id"), "label": sf.get("label"), "x": box["x1"], "y": box["y1"],
                              "w": max(0, box["x2"] - box["x1"]), "h": max(0, box["y2"] - box["y1"])})
    citances = _citance_views(detail.get("citances"), label_number)
    context = {
        "fig": detail,
        "modalities": _modalities(detail.get("modality"), panels),
        "article": detail.get("article") or {},
        "panels": panels,
        "boxes": boxes,
        "citances": citances,
        "display_url": (f"{root}/browse/figures/{figure_id}/thumbnail?max_side={DISPLAY_SIDE}"
                        if detail.get("image_url") else None),
        "display_size": _thumb_size(width, height, DISPLAY_SIDE),
        "label_size": max(12, round(min(width, height) * 0.045)) if width and height else 12,
        "back_href": back_href,
    }
    return _page(request, "figure.html", context)


def _text_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        return value.get("text") or value.get("full_text") or None
    return None


def _citance_views(value: Any, number: tuple[str, int] | None) -> list[dict]:
    """Citances (dicts with `text`) plus `html`: the text with its references to this figure marked."""
    return [{**c, "html": highlight_references(c.get("text") or "", number)}
            for c in _list(value) if isinstance(c, dict)]


def _panel_view(sf: dict, number: tuple[str, int] | None) -> dict:
    """A panel of `GET /figures/{id}` plus `texts` (its subcaptions: the `subcaption` field where the
    API has one, else its `subcaptions` list), `extra_full_text` (`full_text` when it says more) and
    its own citances, if the API lists them, with their references marked."""
    texts = [t for t in [_text_of(sf.get("subcaption"))] if t]
    if not texts:
        texts = [t for t in (_text_of(s) for s in sf.get("subcaptions") or []) if t]
    full = sf.get("full_text") if isinstance(sf.get("full_text"), str) else None
    return {**sf, "texts": texts, "extra_full_text": full if full and full not in texts else None,
            "concepts": _list(sf.get("concepts")), "citances": _citance_views(sf.get("citances"), number)}


def _list(value: Any) -> list:
    return list(value) if isinstance(value, list) else []


def _modalities(figure_modality: Any, panels: list[dict]) -> list[Any]:
    """The figure's modality, then the other modalities its panels have, each once."""
    seen: set[str] = set()
    out = []
    for m in [figure_modality, *(sf.get("modality") for sf in panels)]:
        code = m.get("code") if isinstance(m, dict) else m if isinstance(m, str) else None
        if code and code not in seen:
            seen.add(code)
            out.append(m)
    return out


_LABEL_NUMBER = re.compile(r"(?<![\d.])(?:(?<![A-Za-z])([Ss]))?(\d+)(?!\d)")
_FIGURE_WORD = re.compile(r"\b(?:Supplementary\s+)?Fig(?:ure)?s?\.?\s*(?=[Ss]?\d)", re.IGNORECASE)
_FOLLOWING = 60  # characters after a reference that may still hold its panel letters


def _figure_number(label: Any) -> tuple[str, int] | None:
    """("", 2) for "Figure 2", ("S", 1) for "Figure S1"; None for unnumbered figures."""
    if not isinstance(label, str):
        return None
    m = _LABEL_NUMBER.search(label)
    return ((m.group(1) or "").upper(), int(m.group(2))) if m else None


def highlight_references(text: str, number: tuple[str, int] | None) -> Markup:
    """`text`, escaped, with each reference to figure `number` ("Fig. 2B", "Figures 1 and 2C–E")
    wrapped in <mark class="figure-ref">. The panels of a reference are read by the parser that
    found them at harvest time (harvester.jats.panel_refs), so the mark covers its letters."""
    if number is None:
        return Markup(escape(text))
    out: list[str] = []
    pos = 0
    for m in _FIGURE_WORD.finditer(text):
        if m.start() < pos:
            continue
        tail = text[m.end():]
        numbers = re.match(r"[Ss]?\d+(?:[A-Za-z′'’]*(?:\s*(?:,|and|&|[-–—])\s*[Ss]?\d+[A-Za-z′'’]*)*)", tail)
        if numbers is None:
            continue
        xref = text[m.start():m.end() + numbers.end()]
        following = text[m.start() + len(xref):m.start() + len(xref) + _FOLLOWING]
        try:
            mentions = parse_mention(xref, following)
        except Exception:  # noqa: BLE001 - a display nicety never breaks the page
            continue
        mine = [x for x in mentions if x.number is not None and (x.number[0].upper(), x.number[1]) == number]
        if not mine:
            continue
        end = m.start() + max(len(xref.rstrip()), max(x.end for x in mine))
        end = min(len(text), end)
        out.append(str(escape(text[pos:m.start()])))
        out.append(f'<mark class="figure-ref">{escape(text[m.start():end])}</mark>')
        pos = end
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))


# -- thumbnails ----------------------------------------------------------------------------------
@router.get("/browse/figures/{figure_id}/thumbnail", response_class=Response)
def figure_thumbnail(request: Request, session: SessionDep, figure_id: FigureId,
                     max_side: Annotated[int, Query(ge=32, le=2048)] = GALLERY_SIDE,
                     if_none_match: Annotated[str | None, Header()] = None):
    ref = queries.figure_image_ref(session, figure_id)
    session.close()
    if ref is None:
        raise Problem(404, f"no figure {figure_id}")
    if not ref.image_key:
        raise Problem(404, f"figure {figure_id} has no stored image")
    side = thumbnail_side(max_side)
    etag = thumbnail_etag(ref.sha256, ref.image_key, side)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    try:
        data = stored_thumbnail(request.app.state.blobs, ref.sha256, ref.image_key, side, thumbnails)
    except BlobError as exc:
        raise Problem(404, f"the image of figure {figure_id} is missing from the blob store") from exc
    except ImageError as exc:
        raise Problem(404, f"the image of figure {figure_id} cannot be decoded: {exc}",
                      title="Unusable image") from exc
    return Response(content=data, media_type="image/jpeg", headers=headers)

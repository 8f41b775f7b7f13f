"""GET /figures, GET /figures/{id}, GET /figures/{id}/image."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import Response

from api import queries
from api.deps import MAX_ID, FilterDep, PageDep, SessionDep
from api.encoding import JsonBody, page_body
from api.images import CACHE_CONTROL, content_type, etag_for, etag_matches
from api.pagination import encode_cursor, query_hash
from api.problems import Problem, problem_responses
from api.schemas import (
    ArticleRef,
    Box,
    CitanceOut,
    ConceptOut,
    FigureDetail,
    FigureItem,
    ModalityInfo,
    Page,
    SubcaptionOut,
    SubfigureOut,
)
from store.blobs import BlobError
from store.figure_records import panel_texts

router = APIRouter(tags=["figures"], responses=problem_responses(401, 403, 422))
FigureId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _root(request: Request) -> str:
    return request.scope.get("root_path", "")


@router.get("/figures", response_model=Page[FigureItem], summary="Search and filter figures")
def list_figures(request: Request, session: SessionDep, f: FilterDep, page: PageDep):
    after = page.after("figures", f, ranked=bool(f.q))
    result = queries.list_figures(session, f, limit=page.limit, after=after, with_total=page.total)
    session.close()  # on this thread: the connection goes back to the pool before the JSON is built
    root = _root(request)
    items = []
    keys = result.rows[0]._fields if result.rows else ()
    for r in result.rows:
        item = dict(zip(keys, r))  # a third of the time of Row._asdict, which rebuilds its key list per row
        item["image_url"] = f"{root}/figures/{r.id}/image" if item.pop("has_image") else None
        items.append(item)
    cursor = encode_cursor(result.next_key, query_hash("figures", f)) if result.next_key else None
    return page_body(items, cursor, result.total)


def _modality(info, score, evidence=None) -> ModalityInfo | None:
    if info is None:
        return None
    return ModalityInfo(code=info.code, name=info.name, cui=info.cui, score=score, evidence=list(evidence or []))


def _citance(c) -> CitanceOut:
    return CitanceOut(id=c.id, text=c.text, section=c.section, panels=list(c.panels or []))


def _panel_concepts(mentions) -> list[ConceptOut]:
    """Mentions → one entry per concept, the most mentioned first (as the figure's `concepts`)."""
    by_concept: dict[int, tuple[object, int, set[str]]] = {}
    for m in mentions:
        first, n, fields = by_concept.get(m.id, (m, 0, set()))
        by_concept[m.id] = (first, n + 1, fields | {m.field})
    ordered = sorted(by_concept.values(), key=lambda t: (-t[1], t[0].name))
    return [ConceptOut(id=m.id, vocab=m.vocab, code=m.code, name=m.name, mentions=n, fields=sorted(fields))
            for m, n, fields in ordered]


def _subcaption(s) -> SubcaptionOut:
    return SubcaptionOut(id=s.id, subfigure_id=s.subfigure_id, ordinal=s.ordinal, label=s.label, text=s.text,
                         full_text=s.full_text, flag=s.flag)


@router.get("/figures/{figure_id}", response_model=FigureDetail, responses=problem_responses(404),
            summary="One figure with panels, subcaptions, citances, concepts and modality")
def get_figure(request: Request, session: SessionDep, figure_id: FigureId):
    found = queries.get_figure(session, figure_id)
    session.close()
    if found is None:
        raise Problem(404, f"no figure {figure_id}")
    fig, modalities = found["figure"], found["modalities"]
    root = _root(request)
    by_subfigure: dict[int, list[SubcaptionOut]] = {}
    for s in found["subcaptions"]:
        if s.subfigure_id is not None:
            by_subfigure.setdefault(s.subfigure_id, []).append(_subcaption(s))
    texts = panel_texts(found["subfigures"], found["subcaptions"], found["citances"], found["panel_mentions"],
                        found["panel_citances"])
    detail = FigureDetail(
        id=fig.id, label=fig.label, jats_id=fig.jats_id, caption_title=fig.caption_title, caption=fig.caption_text,
        context=fig.context, source=fig.source, width=fig.width, height=fig.height,
        image_url=f"{root}/figures/{fig.id}/image" if fig.image_key else None, image_format=fig.image_format,
        sha256=fig.sha256, phash=fig.phash, is_compound=fig.is_compound, n_panels=fig.n_panels,
        modality=_modality(modalities.get(fig.modality_id), fig.modality_score, fig.modality_evidence),
        modalities=list(fig.modalities or []), annotated_at=fig.annotated_at,
        article=ArticleRef(id=fig.article_id, pmcid=fig.pmcid, doi=fig.doi, title=fig.title, journal=fig.journal,
                           year=fig.year, license=fig.license_code, retracted=fig.retracted),
        subfigures=[
            SubfigureOut(
                id=s.id, ordinal=s.ordinal, label=s.label, box=Box(x1=s.x1, y1=s.y1, x2=s.x2, y2=s.y2),
                score=s.score, method=s.method,
                modality=_modality(modalities.get(s.modality_id), s.modality_score, s.modality_evidence),
                image_url=f"{root}/subfigures/{s.id}/image", subcaptions=by_subfigure.get(s.id, []),
                subcaption=texts[s.id].subcaption.text if texts[s.id].subcaption is not None else None,
                full_text=texts[s.id].subcaption.full_text if texts[s.id].subcaption is not None else None,
                citances=[_citance(c) for c in texts[s.id].citances],
                concepts=_panel_concepts(texts[s.id].mentions),
            )
            for s in found["subfigures"]
        ],
        subcaptions=[_subcaption(s) for s in found["subcaptions"]],
        citances=[_citance(c) for c in found["citances"]],
        concepts=[ConceptOut(id=c.id, vocab=c.vocab, code=c.code, name=c.name, mentions=c.mentions,
                             fields=sorted(x for x in (c.fields or []) if x)) for c in found["concepts"]],
    )
    return JsonBody(detail.model_dump(mode="json"))


IMAGE_RESPONSES = {
    200: {"content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
          "description": "The image bytes"},
    304: {"description": "Not modified (If-None-Match matched the ETag)"},
    **problem_responses(404),
}


@router.get("/figures/{figure_id}/image", response_class=Response, responses=IMAGE_RESPONSES,
            summary="The figure image as stored (ETag = its sha256)")
def figure_image(request: Request, session: SessionDep, figure_id: FigureId,
                 if_none_match: Annotated[str | None, Header()] = None):
    ref = queries.figure_image_ref(session, figure_id)
    if ref is None:
        raise Problem(404, f"no figure {figure_id}")
    if not ref.image_key:
        raise Problem(404, f"figure {figure_id} has no stored image")
    session.close()  # the blob read may be slow (S3); give the connection back first
    etag = etag_for(ref.sha256 or ref.image_key.rsplit("/", 1)[-1].split(".")[0])
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    try:
        data = request.app.state.blobs.open(ref.image_key)
    except BlobError as exc:
        raise Problem(404, f"the image of figure {figure_id} is missing from the blob store") from exc
    return Response(content=data, media_type=content_type(ref.image_format, ref.image_key), headers=headers)

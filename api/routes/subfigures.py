"""GET /subfigures, GET /subfigures/{id}/image (the panel crop, JPEG, cut on demand)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api import queries
from api.deps import MAX_ID, FilterDep, PageDep, SessionDep, read_sessions
from api.encoding import page_body
from api.images import CACHE_CONTROL, CropError, ImageError, crop_etag, crop_jpeg, etag_for, etag_matches
from api.pagination import encode_cursor, query_hash
from api.problems import Problem, problem_responses
from api.routes.figures import IMAGE_RESPONSES
from api.schemas import Page, SubfigureItem
from store.blobs import BlobError

router = APIRouter(tags=["subfigures"], responses=problem_responses(401, 403, 422))
SubfigureId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/subfigures", response_model=Page[SubfigureItem], summary="Search and filter panels")
def list_subfigures(request: Request, session: SessionDep, f: FilterDep, page: PageDep):
    """The figure filters, read for panels: `q`, `modality`, `concept`, `min_width` and `min_height`
    look at the panel (its subcaption, the citances naming its letter, its own modality and box);
    the other filters at its figure and article."""
    after = page.after("subfigures", f, ranked=bool(f.q))
    result = queries.list_subfigures(session, f, limit=page.limit, after=after, with_total=page.total)
    session.close()
    root = request.scope.get("root_path", "")
    items = [
        {
            "id": r.id, "figure_id": r.figure_id, "pmcid": r.pmcid, "ordinal": r.ordinal, "label": r.label,
            "box": {"x1": r.x1, "y1": r.y1, "x2": r.x2, "y2": r.y2}, "score": r.score, "method": r.method,
            "modality": r.modality, "subcaption": r.subcaption, "image_url": f"{root}/subfigures/{r.id}/image",
            "rank": r.rank,
        }
        for r in result.rows
    ]
    cursor = encode_cursor(result.next_key, query_hash("subfigures", f)) if result.next_key else None
    return page_body(items, cursor, result.total)


@router.get("/subfigures/{subfigure_id}/image", response_class=Response, responses=IMAGE_RESPONSES,
            summary="The panel cut from its figure, as JPEG")
async def subfigure_image(request: Request, subfigure_id: SubfigureId,
                          if_none_match: Annotated[str | None, Header()] = None):
    ref = await run_in_threadpool(_subfigure_ref, subfigure_id)
    if ref is None:
        raise Problem(404, f"no subfigure {subfigure_id}")
    blobs = request.app.state.blobs
    if ref.crop_key:  # the detector stored the crop already
        etag = etag_for(ref.crop_key.rsplit("/", 1)[-1].split(".")[0])
        headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
        if etag_matches(if_none_match, etag):
            return Response(status_code=304, headers=headers)
        data = await run_in_threadpool(_read_blob, blobs, ref.crop_key, subfigure_id)
        return Response(content=data, media_type="image/jpeg", headers=headers)
    if not ref.image_key:
        raise Problem(404, f"the figure of subfigure {subfigure_id} has no stored image")
    box = (ref.x1, ref.y1, ref.x2, ref.y2)
    etag = crop_etag(ref.sha256, ref.image_key, box)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    figure_bytes = await run_in_threadpool(_read_blob, blobs, ref.image_key, subfigure_id)
    try:
        data = await run_in_threadpool(crop_jpeg, figure_bytes, box, name=ref.image_key)
    except CropError as exc:
        raise Problem(404, str(exc), title="Empty panel") from exc
    except ImageError as exc:
        raise Problem(404, f"the figure image cannot be decoded: {exc}", title="Unusable image") from exc
    return Response(content=data, media_type="image/jpeg", headers=headers)


def _subfigure_ref(subfigure_id: int):
    with read_sessions()() as session:
        return queries.subfigure_image_ref(session, subfigure_id)


def _read_blob(blobs, key: str, subfigure_id: int) -> bytes:
    try:
        return blobs.open(key)
    except BlobError as exc:
        raise Problem(404, f"the image of subfigure {subfigure_id} is missing from the blob store") from exc

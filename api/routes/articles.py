"""GET /articles, GET /articles/{pmcid}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from api import queries
from api.deps import MAX_VALUES, PageDep, SessionDep
from api.encoding import page_body
from api.pagination import encode_cursor, query_hash
from api.problems import Problem, problem_responses
from api.schemas import ArticleDetail, ArticleItem, FigureSummary, Page, SafeStr

router = APIRouter(tags=["articles"], responses=problem_responses(401, 403, 422))


def image_url(request: Request, figure_id: int) -> str:
    return f"{request.scope.get('root_path', '')}/figures/{figure_id}/image"


@router.get("/articles", response_model=Page[ArticleItem], summary="List articles")
def list_articles(
    session: SessionDep,
    page: PageDep,
    license: Annotated[list[SafeStr], Query(max_length=MAX_VALUES)] = [],  # noqa: B006
    year_from: Annotated[int | None, Query(ge=0, le=9999)] = None,
    year_to: Annotated[int | None, Query(ge=0, le=9999)] = None,
    journal: Annotated[list[SafeStr], Query(max_length=MAX_VALUES)] = [],  # noqa: B006
    pmcid: Annotated[list[SafeStr], Query(max_length=MAX_VALUES)] = [],  # noqa: B006
    include_retracted: bool = False,
):
    f = queries.ArticleFilter(
        license=[x for x in license if x.strip()], year_from=year_from, year_to=year_to,
        journal=[j for j in journal if j.strip()], pmcid=[p.strip() for p in pmcid if p.strip()],
        include_retracted=include_retracted,
    )
    after = page.after("articles", f, ranked=False)
    result = queries.list_articles(session, f, limit=page.limit, after=after, with_total=page.total)
    session.close()
    cursor = encode_cursor(result.next_key, query_hash("articles", f)) if result.next_key else None
    return page_body([r._asdict() for r in result.rows], cursor, result.total)


@router.get("/articles/{pmcid}", response_model=ArticleDetail, summary="One article with its figures",
            responses=problem_responses(404))
def get_article(request: Request, session: SessionDep,
                pmcid: Annotated[SafeStr, Path(max_length=40, description="PMCID, e.g. PMC2924383")]):
    found = queries.get_article(session, pmcid.strip())
    if found is None:
        raise Problem(404, f"no article with PMCID {pmcid!r}")
    article, figures, n_citances = found
    data = dict(article._mapping)
    data["n_citances"] = n_citances
    data["figures"] = [
        FigureSummary(
            id=f.id, label=f.label, caption_title=f.caption_title, width=f.width, height=f.height,
            image_url=image_url(request, f.id) if f.has_image else None, is_compound=f.is_compound,
            n_panels=f.n_panels,
        )
        for f in figures
    ]
    return data

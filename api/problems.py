"""Errors as RFC 9457 problem details (`application/problem+json`) for every 4xx and 5xx.

Routes raise `Problem(status, title, detail)`; FastAPI's HTTP and validation errors are translated by
the handlers installed here, so a client sees one shape whatever failed:
`{"type", "title", "status", "detail", "instance", "request_id"[, "errors"]}`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemBody(BaseModel):
    """The JSON body of an error (RFC 9457)."""

    type: str = Field(default="about:blank", description="A URI naming the kind of problem")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(default=None, description="The request path that failed")
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = Field(default=None, description="Per-field validation errors")


class Problem(Exception):
    """Raise from anywhere below a route to answer with a problem document."""

    def __init__(self, status: int, detail: str | None = None, *, title: str | None = None,
                 type: str = "about:blank", headers: dict[str, str] | None = None,
                 errors: list[dict[str, Any]] | None = None):
        super().__init__(detail or title or str(status))
        self.status = status
        self.title = title or HTTPStatus(status).phrase
        self.detail = detail
        self.type = type
        self.headers = headers or {}
        self.errors = errors


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem_response(request_scope: dict, problem: Problem) -> ProblemResponse:
    body = ProblemBody(
        type=problem.type,
        title=problem.title,
        status=problem.status,
        detail=problem.detail,
        instance=request_scope.get("path"),
        request_id=request_scope.get("state", {}).get("request_id"),
        errors=problem.errors,
    )
    return ProblemResponse(body.model_dump(exclude_none=True), status_code=problem.status, headers=problem.headers)


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the problem statuses a route can answer."""
    schema = {"$ref": "#/components/schemas/Problem"}  # added to the document by `install_problem_schema`
    return {
        code: {"description": HTTPStatus(code).phrase, "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}}}
        for code in codes
    }


def install_problem_schema(app: FastAPI) -> None:
    """Put the Problem schema into the OpenAPI components that `problem_responses` refer to."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            schema = ProblemBody.model_json_schema()
            schema["title"] = "Problem"
            document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = schema
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for error in exc.errors():
        item = {"loc": list(error.get("loc", ())), "msg": error.get("msg"), "type": error.get("type")}
        out.append(jsonable_encoder(item))
    return out


def install_problem_handlers(app: FastAPI) -> None:
    install_problem_schema(app)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return problem_response(request.scope, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(request.scope, Problem(exc.status_code, detail, headers=dict(exc.headers or {})))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = _validation_errors(exc)
        summary = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
        return problem_response(
            request.scope, Problem(422, summary or "invalid request", title="Invalid request", errors=errors)
        )

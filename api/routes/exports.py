"""POST /exports (202), GET /exports/{id}, GET /exports/{id}/files/{name}. API key required.

The export engine (store.exporters) does the work: `create_export_job` records the job, and
`execute_export_job(export_id)` runs it on a background thread of this process. A file is fetched with
the key header, or through the `download_url` that the status signs for the requesting key (browsers
and `wget` cannot send a header on a plain download).
"""

from __future__ import annotations

import time
from pathlib import Path as FilePath
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from api import queries
from api.deps import MAX_ID, ApiKeyDep, OptionalApiKeyDep, SessionDep, SettingsDep, check_text_length
from api.jobs import start_export
from api.keys import KeyInfo, sign_download, verify_download
from api.problems import Problem, problem_responses
from api.schemas import ExportFile, ExportRequest, ExportStatus
from store.db import session_factory

router = APIRouter(tags=["exports"], responses=problem_responses(401, 403, 422))
ExportId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _export_url(request: Request, export_id: int) -> str:
    return f"{request.scope.get('root_path', '')}/exports/{export_id}"


def _status(request: Request, export, key: KeyInfo, session, ttl_s: int) -> ExportStatus:
    base = _export_url(request, export.id)
    expires = int(time.time()) + max(1, ttl_s)
    files = []
    for entry in export.files or []:
        name = entry.get("path") if isinstance(entry, dict) else str(entry)
        if not name:
            continue
        size = entry.get("bytes", entry.get("size")) if isinstance(entry, dict) else None
        url = f"{base}/files/{quote(name)}"
        signature = sign_download(session, key.id, export.id, name, expires) if export.status == "finished" else None
        signed = f"{url}?{urlencode({'key_id': key.id, 'expires': expires, 'signature': signature})}" if signature else None
        files.append(ExportFile(name=name, size=size, url=url, download_url=signed))
    progress = None
    if export.total:
        progress = min(1.0, (export.done or 0) / export.total)
    elif export.status == "finished":
        progress = 1.0
    return ExportStatus(
        id=export.id, status=export.status, format=export.format, level=export.level,
        created_at=export.created_at, finished_at=export.finished_at, params=export.params or {},
        total=export.total, done=export.done or 0, progress=progress, counts=export.counts or {},
        files=files, error=export.error,
    )


@router.post("/exports", status_code=202, response_model=ExportStatus,
             summary="Start an export of the figures or panels matching the filters")
def create_export(request: Request, body: ExportRequest, key: ApiKeyDep, settings: SettingsDep,
                  session: SessionDep):
    check_text_length(body.filters.q, settings, "filters.q")
    export_id = start_export(body, settings, session_factory(), request.app.state.blobs, request.app.state.jobs)
    export = queries.get_export(session, export_id)
    url = _export_url(request, export_id)
    status = _status(request, export, key, session, settings.download_link_ttl_s)
    return JSONResponse(status.model_dump(mode="json"), status_code=202, headers={"Location": url})


@router.get("/exports/{export_id}", response_model=ExportStatus, responses=problem_responses(404),
            summary="Status, progress, counts and files of an export")
def get_export(request: Request, session: SessionDep, key: ApiKeyDep, settings: SettingsDep, export_id: ExportId):
    export = queries.get_export(session, export_id)
    if export is None:
        raise Problem(404, f"no export {export_id}")
    return _status(request, export, key, session, settings.download_link_ttl_s)


@router.get("/exports/{export_id}/files/{name:path}", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "The file"},
                       **problem_responses(404, 409)},
            summary="Download one file of a finished export (key header, or a signed download_url)")
def download_export_file(
    session: SessionDep, key: OptionalApiKeyDep, export_id: ExportId, name: str,
    key_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="From a signed download_url")] = None,
    expires: Annotated[int | None, Query(ge=0, le=2**62, description="From a signed download_url")] = None,
    signature: Annotated[str | None, Query(max_length=128, description="From a signed download_url")] = None,
):
    if key is None:
        if key_id is None or expires is None or signature is None:
            raise Problem(401, "this download needs an API key in the X-API-Key header or a signed download_url",
                          headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'})
        if not verify_download(session, key_id, export_id, name, expires, signature, time.time()):
            raise Problem(403, "the download link is invalid, has expired, or its API key was revoked")
    export = queries.get_export(session, export_id)
    if export is None:
        raise Problem(404, f"no export {export_id}")
    if export.status != "finished":
        raise Problem(409, f"export {export_id} is {export.status}; files can be downloaded once it is finished")
    target = resolve_export_file(export.location, name)
    if target is None:
        raise Problem(404, f"export {export_id} has no file {name!r}")
    return FileResponse(target, filename=target.name)


def resolve_export_file(location: str | None, name: str) -> FilePath | None:
    """The file `name` inside the export folder, or None: no absolute paths, no '..', no links out."""
    if not location or not name or "\x00" in name or name.startswith(("/", "\\")):
        return None
    parts = name.replace("\\", "/").split("/")
    if any(p in ("", ".", "..") for p in parts):
        return None
    root = FilePath(location)
    if root.is_file():  # an export written to one file: its folder holds the siblings
        root = root.parent
    root = root.resolve()
    target = (root / "/".join(parts)).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return target

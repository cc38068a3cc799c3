"""``/api/v1``: the records, curation, submissions, searches, exports and the stages, over HTTP.

Each route does what the matching command does, through the same functions (intake, curation, the
queue's requeue, pause, export, the search plan): one set of rules, whichever door a request comes
in by. Routes run in the server's thread pool, each with its own short transaction.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import JSON, ColumnElement, Table, asc, desc, false, func, or_, select
from starlette.background import BackgroundTask

from leadpipe import export, intake
from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.db.models import (
    businesses,
    contacts,
    domains,
    pages,
    search_cells,
    searches,
    sitemap_files,
)
from leadpipe.engine import curation, health, queue
from leadpipe.engine.pause import pause_stage, resume_stage
from leadpipe.engine.stage import Pipeline, Stage
from leadpipe.server.auth import Key, admin, reader

__all__ = ["RECORDS", "router"]

router = APIRouter(prefix="/api/v1")

# The record types, by the name their routes take.
RECORDS: dict[str, Table] = {
    "searches": searches,
    "search-cells": search_cells,
    "businesses": businesses,
    "domains": domains,
    "sitemap-files": sitemap_files,
    "pages": pages,
    "contacts": contacts,
}
HIDDEN = frozenset({"lease_token"})  # never leaves the database (a lease is the engine's alone)
MAX_IDS = 10_000  # ids one curation or requeue request may name
MAX_LINES = 10_000  # lines one submission may hold
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_FILTERS = 20


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _stage(request: Request, name: str) -> Stage:
    pipeline: Pipeline = request.app.state.pipeline
    try:
        return pipeline[name]
    except KeyError as problem:
        raise HTTPException(404, str(problem.args[0])) from None


def _fields(table: Table) -> list[Any]:
    return [column for column in table.c if column.name not in HIDDEN]


def _row(row: Any) -> dict[str, Any]:
    return {key: value.isoformat() if hasattr(value, "isoformat") else value for key, value in row.items()}


class Page(BaseModel):
    total: int = Field(description="records matching the filters, in all")
    limit: int
    offset: int
    next_after: int | None = Field(None, description="with sort=id: the `after` of the next page")
    items: list[dict[str, Any]]


def _where(table: Table, where: list[str]) -> ColumnElement[bool]:
    """The list filters as a condition: ``column=value`` / ``column!=value``, ANDed (a 400 otherwise)."""
    hidden = [text for text in where if text.partition("=")[0].rstrip("!").strip() in HIDDEN]
    if hidden:
        raise HTTPException(400, f"cannot filter by {hidden[0]!r}")
    try:
        return curation.where_clause(table, [], where, everything=True)
    except curation.CurationError as problem:
        raise HTTPException(400, str(problem).replace("--where", "where")) from None


def records(
    db: Database,
    table: Table,
    where: list[str],
    sort: str,
    limit: int,
    offset: int = 0,
    after: int | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """The records matching ``where``, one page of them in ``sort`` order, and how many match in all."""
    chosen = _where(table, where)
    name = sort.removeprefix("-")
    if name not in table.c or name in HIDDEN or isinstance(table.c[name].type, JSON):
        raise HTTPException(
            400, f"cannot sort by {name!r}: name a column of {table.name}, `-` for descending"
        )
    order = desc(table.c[name]) if sort.startswith("-") else asc(table.c[name])
    query = select(*_fields(table)).where(chosen)
    if after is not None:
        if sort != "id":
            raise HTTPException(400, "`after` pages by id: use it with sort=id")
        query = query.where(table.c.id > after)
    with db.read() as connection:
        total = connection.execute(select(func.count()).select_from(table).where(chosen)).scalar_one()
        found = connection.execute(query.order_by(order, table.c.id).limit(limit).offset(offset))
        return int(total), [_row(row) for row in found.mappings()]


def _lister(record: str, table: Table) -> Any:
    def list_records(
        request: Request,
        _: Annotated[Key, Depends(reader)],
        where: Annotated[
            list[str],
            Query(
                description="column=value or column!=value (`null` for none); repeatable, ANDed",
                max_length=MAX_FILTERS,
            ),
        ] = [],  # noqa: B006 (FastAPI copies it)
        sort: Annotated[str, Query(description="a column, `-column` for descending", max_length=100)] = "id",
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        after: Annotated[
            int | None, Query(description="cursor: records after this id (with sort=id)", ge=0, le=2**62)
        ] = None,
    ) -> Page:
        total, rows = records(_db(request), table, where, sort, limit, offset, after)
        next_after = rows[-1]["id"] if sort == "id" and len(rows) == limit else None
        return Page(total=total, limit=limit, offset=offset, next_after=next_after, items=rows)

    return list_records


def _getter(record: str, table: Table) -> Any:
    def get_record(
        request: Request,
        record_id: Annotated[int, PathParam(ge=1, le=2**62)],
        _: Annotated[Key, Depends(reader)],
    ) -> dict[str, Any]:
        with _db(request).read() as connection:
            row = (
                connection.execute(select(*_fields(table)).where(table.c.id == record_id)).mappings().first()
            )
        if row is None:
            raise HTTPException(404, f"no record of {record} has the id {record_id}")
        return _row(row)

    return get_record


# Each record type its own two routes, with fixed paths: no parameter in a path can shadow another route.
for _name, _table in RECORDS.items():
    router.add_api_route(
        f"/{_name}", _lister(_name, _table), methods=["GET"], tags=["records"],
        summary=f"List {_name}: filters, sorting, pagination and the total", operation_id=f"list_{_name.replace('-', '_')}",
    )  # fmt: skip
    router.add_api_route(
        f"/{_name}/{{record_id}}", _getter(_name, _table), methods=["GET"], tags=["records"],
        summary=f"One of the {_name} by id", operation_id=f"get_{_name.replace('-', '_')}",
    )  # fmt: skip


class Selection(BaseModel):
    ids: list[Annotated[int, Field(ge=1, le=2**62)]] = Field(default_factory=list, max_length=MAX_IDS)
    where: list[Annotated[str, Field(max_length=500)]] = Field(default_factory=list, max_length=MAX_FILTERS)
    all: bool = False


class Decision(Selection):
    refresh: bool = Field(False, description="select only: queue finished items again too")


class Changed(BaseModel):
    stage: str
    queued: int
    taken_back: int
    recorded: int
    message: str


def decide_items(
    db: Database,
    stage: Stage,
    decision: str,
    ids: list[int],
    where: list[str],
    everything: bool = False,
    refresh: bool = False,
) -> curation.Changed:
    """A person's decision about items of ``stage``, named by ids, filters or all, in one transaction."""
    try:
        chosen = curation.where_clause(stage.table, ids, where, everything)
    except curation.CurationError as problem:
        said = str(problem).replace("--where", "where").replace("--id N", "ids").replace("--all", "all")
        raise HTTPException(400, said) from None
    with db.begin() as connection:
        return curation.decide(db, connection, stage, decision, chosen, refresh)


def _decider(decision: str) -> Any:
    def decide(
        request: Request,
        stage: Annotated[str, PathParam(max_length=64)],
        body: Decision,
        _: Annotated[Key, Depends(admin)],
    ) -> Changed:
        chosen_stage = _stage(request, stage)
        changed = decide_items(
            _db(request), chosen_stage, decision, body.ids, body.where, body.all, body.refresh
        )
        return Changed(
            stage=chosen_stage.name,
            queued=changed.queued,
            taken_back=changed.taken_back,
            recorded=changed.recorded,
            message=str(changed),
        )

    return decide


for _decision, _summary in (
    ("select", "Select items of a stage: those awaiting a person are queued"),
    ("reject", "Reject items of a stage: those not yet started leave the queue"),
    ("unselect", "Undo a selection of items not yet started"),
):
    router.add_api_route(
        f"/stages/{{stage}}/{_decision}", _decider(_decision), methods=["POST"], tags=["curation"],
        summary=_summary, operation_id=f"{_decision}_items",
    )  # fmt: skip


class Requeue(BaseModel):
    ids: list[Annotated[int, Field(ge=1, le=2**62)]] = Field(default_factory=list, max_length=MAX_IDS)
    dead: bool = Field(False, description="every dead item of the stage")


@router.post(
    "/stages/{stage}/requeue", tags=["stages"], summary="Send dead (or finished) items back to the queue"
)
def requeue(
    request: Request,
    stage: Annotated[str, PathParam(max_length=64)],
    body: Requeue,
    _: Annotated[Key, Depends(admin)],
) -> dict[str, Any]:
    table = _stage(request, stage).table
    if not body.dead and not body.ids:
        raise HTTPException(400, "name the items: dead=true, or ids")
    named = [table.c.status == "dead"] if body.dead else []
    if body.ids:
        named.append(table.c.id.in_(body.ids))
    db = _db(request)
    with db.begin() as connection:
        count = queue.requeue(db, connection, table, or_(false(), *named))
    return {"stage": stage, "queued": count}


class Pause(BaseModel):
    reason: str = Field("paused by hand", min_length=1, max_length=500)


@router.post(
    "/stages/{stage}/pause", tags=["stages"], summary="Pause a stage: its items wait, nothing is claimed"
)
def pause(
    request: Request,
    stage: Annotated[str, PathParam(max_length=64)],
    body: Pause,
    key: Annotated[Key, Depends(admin)],
) -> dict[str, Any]:
    name = _stage(request, stage).name
    with _db(request).begin() as connection:
        paused = pause_stage(connection, name, body.reason, by=f"api key {key.name}")
    return {"stage": name, "paused": True, "was_paused": not paused}


@router.post("/stages/{stage}/resume", tags=["stages"], summary="Resume a paused stage")
def resume(
    request: Request, stage: Annotated[str, PathParam(max_length=64)], _: Annotated[Key, Depends(admin)]
) -> dict[str, Any]:
    name = _stage(request, stage).name
    with _db(request).begin() as connection:
        resumed = resume_stage(connection, name)
    return {"stage": name, "paused": False, "was_paused": resumed}


@router.get("/stages", tags=["stages"], summary="Each stage's counts and problems, and the live workers")
def stages(request: Request, _: Annotated[Key, Depends(reader)]) -> dict[str, Any]:
    pipeline: Pipeline = request.app.state.pipeline
    report = health.check(_db(request), pipeline, _settings(request))
    answer: dict[str, Any] = _jsonable(report.to_dict())
    return answer


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value.isoformat() if hasattr(value, "isoformat") else value


class Submission(BaseModel):
    lines: list[Annotated[str, Field(max_length=4000)]] = Field(
        min_length=1, max_length=MAX_LINES, description="domains or URLs, one each, as in a text file"
    )
    refresh: bool = Field(False, description="queue known domains again")


class IntakeReport(BaseModel):
    kind: str
    new: int
    known: int
    repeated: int
    refreshed: int
    notes: list[str]
    skipped: list[str]
    skipped_count: int


@router.post("/inputs", tags=["inputs"], summary="Add domains or URLs, with a report of every line")
def submit(request: Request, body: Submission, _: Annotated[Key, Depends(admin)]) -> IntakeReport:
    text = "".join(line.replace("\r", " ").replace("\n", " ") + "\n" for line in body.lines)
    return _add(request, text.encode("utf-8"), ".txt", body.refresh)


@router.post(
    "/inputs/upload", tags=["inputs"], summary="Upload a text file of domains or a CSV of businesses"
)
def upload(
    request: Request,
    file: Annotated[
        UploadFile, File(description="UTF-8 (or UTF-16/32 with a BOM) text or CSV, at most 20 MB")
    ],
    _: Annotated[Key, Depends(admin)],
    refresh: bool = False,
) -> IntakeReport:
    data = file.file.read(MAX_UPLOAD_BYTES + 1)
    return _add(request, data, suffix_of(file.filename), refresh)


def suffix_of(filename: str | None) -> str:
    return ".csv" if (filename or "").lower().endswith(".csv") else ".txt"


def _add(request: Request, data: bytes, suffix: str, refresh: bool) -> IntakeReport:
    pipeline: Pipeline = request.app.state.pipeline
    found, added = add_input(_db(request), pipeline, _settings(request), data, suffix, refresh)
    return IntakeReport(
        kind=found.kind,
        new=added.new,
        known=added.known,
        repeated=added.repeated,
        refreshed=added.refreshed,
        notes=added.notes,
        skipped=added.skipped,
        skipped_count=added.skipped_count,
    )


def add_input(
    db: Database, pipeline: Pipeline, settings: Settings, data: bytes, suffix: str, refresh: bool = False
) -> tuple[intake.Intake, intake.Added]:
    """Add a submitted text or CSV file as `leadpipe add` would: all of it, or nothing and a 4xx."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    with tempfile.TemporaryDirectory(prefix="leadpipe-upload-") as folder:
        path = Path(folder) / ("input.csv" if suffix == ".csv" else "input.txt")
        path.write_bytes(data)
        try:
            found = intake.read(path)
            return found, intake.add(db, pipeline, settings, found, refresh=refresh)
        except intake.IntakeError as problem:
            raise HTTPException(400, str(problem).replace(str(path), "the input")) from None


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=500)
    area: str | None = Field(None, max_length=200, description="an area by name (one Text Search finds it)")
    bbox: tuple[float, float, float, float] | None = Field(None, description="south, west, north, east")
    near: tuple[float, float] | None = Field(None, description="latitude, longitude, with radius_km")
    radius_km: float | None = Field(None, gt=0.05, le=500)
    type: str | None = Field(None, max_length=100)
    language: str | None = Field(None, max_length=35)
    region: str | None = Field(None, min_length=2, max_length=2)
    dry_run: bool = False


@router.post("/searches", tags=["searches"], summary="Plan and add a Google Maps search over an area")
def add_search(request: Request, body: SearchRequest, _: Annotated[Key, Depends(admin)]) -> dict[str, Any]:
    from leadpipe.cli import search as search_command

    settings = _settings(request)
    try:
        area = search_command.area_from(
            settings, name=body.area, bbox=body.bbox, near=body.near, radius_km=body.radius_km,
            language=body.language, region=body.region,
        )  # fmt: skip
        plan = search_command.plan(settings, area)
    except ValueError as problem:
        raise HTTPException(400, str(problem)) from None
    search_id = None
    if not body.dry_run:
        pipeline: Pipeline = request.app.state.pipeline
        search_id = search_command.add(
            _db(request), pipeline, settings, body.query, plan,
            included_type=body.type, language=body.language, region=body.region,
        )  # fmt: skip
    return {"search_id": search_id, "cells": len(plan.cells), "tier": plan.tier, "plan": plan.lines()}


@router.get(
    "/exports/contacts",
    tags=["exports"],
    summary="The contacts, with the list's filters, as CSV, JSON lines or XLSX",
    response_class=FileResponse,
)
def export_contacts(
    request: Request,
    _: Annotated[Key, Depends(reader)],
    format: Literal["csv", "jsonl", "xlsx"] = "csv",
    per_domain: bool = False,
    kind: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006
    validation: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006
    domain: Annotated[list[str], Query(max_length=1000)] = [],  # noqa: B006
    where: Annotated[
        list[str],
        Query(
            description="as the contacts list takes it: column=value or column!=value", max_length=MAX_FILTERS
        ),
    ] = [],  # noqa: B006
) -> FileResponse:
    condition = _where(contacts, where) if where else None
    filters = export.Filters(kinds=kind, validations=validation, domains=domain, where=condition)
    return export_file(_db(request), format, per_domain, filters)


def export_file(
    db: Database, format: export.Format, per_domain: bool, filters: export.Filters
) -> FileResponse:
    """The export written to a scratch file, sent, then removed."""
    folder = tempfile.mkdtemp(prefix="leadpipe-export-")
    path = Path(folder) / f"contacts.{format}"
    try:
        export.export(db, path, format, per_domain=per_domain, filters=filters)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    media = {
        "csv": "text/csv; charset=utf-8",
        "jsonl": "application/x-ndjson",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }[format]

    def clean() -> None:
        shutil.rmtree(folder, ignore_errors=True)

    return FileResponse(path, media_type=media, filename=path.name, background=BackgroundTask(clean))

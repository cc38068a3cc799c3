"""The web dashboard: server-rendered pages over the same functions as the API and the command line.

Sign-in takes an API key and sets a session cookie (HttpOnly, SameSite=Strict; Secure over https);
failed sign-ins are counted per address and refused past a limit. Every form carries the session's
CSRF token, checked before anything changes; a read key sees everything and changes nothing.
Nothing to build: the templates are Jinja2, the script a few lines of plain JavaScript.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from leadpipe import export
from leadpipe.db.connect import Database
from leadpipe.engine import curation, health, queue
from leadpipe.engine.stage import Pipeline
from leadpipe.server import auth
from leadpipe.server.api import (
    MAX_FILTERS,
    MAX_UPLOAD_BYTES,
    RECORDS,
    add_input,
    decide_items,
    export_file,
    records,
    suffix_of,
)

__all__ = ["mount"]

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
# The tables a person browses and curates, and the columns shown first.
BROWSED = {
    "businesses": (
        "id",
        "name",
        "category",
        "city",
        "website",
        "phone",
        "rating",
        "status",
        "outcome",
        "curation",
    ),
    "domains": ("id", "name", "status", "outcome", "site_url", "title", "problem", "curation"),
    "pages": ("id", "url", "category", "status", "outcome", "problem", "curation"),
    "contacts": (
        "id",
        "kind",
        "value",
        "confidence",
        "validation",
        "validation_reason",
        "status",
        "curation",
    ),
    "searches": ("id", "query", "area", "included_type", "created_at"),
}
PAGE_SIZE = 50


def mount(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def state(request: Request) -> tuple[Database, Pipeline]:
        return request.app.state.db, request.app.state.pipeline

    def signed_in(request: Request) -> auth.Session:
        session = auth.session_for(request.app.state.db, request.cookies.get(auth.SESSION_COOKIE))
        if session is None:
            raise _SignInFirst()
        return session

    def checked(request: Request, token: str, *, change: bool = True) -> auth.Session:
        session = signed_in(request)
        if not auth.csrf_ok(session, token):
            raise HTTPException(
                403, "the form's CSRF token is missing or wrong: reload the page and try again"
            )
        if change and not session.key.admin:
            raise HTTPException(403, f"the key {session.key.name!r} may only read: sign in with an admin key")
        return session

    def page(request: Request, name: str, session: auth.Session | None, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"session": session, **context})

    @app.exception_handler(_SignInFirst)
    async def to_sign_in(request: Request, _: Exception) -> Response:
        return RedirectResponse("/sign-in", status_code=303)

    @app.get("/sign-in", include_in_schema=False)
    def sign_in_form(request: Request) -> HTMLResponse:
        return page(request, "sign_in.html", None, failed=False)

    @app.post("/sign-in", include_in_schema=False)
    def sign_in(request: Request, key: Annotated[str, Form(max_length=200)]) -> Response:
        address = request.client.host if request.client else "unknown"
        token = auth.sign_in(request.app.state.db, key, address)
        if token is None:
            response = page(request, "sign_in.html", None, failed=True)
            response.status_code = 401
            return response
        redirect = RedirectResponse("/", status_code=303)
        redirect.set_cookie(
            auth.SESSION_COOKIE,
            token,
            max_age=auth.SESSION_HOURS * 3600,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return redirect

    @app.post("/sign-out", include_in_schema=False)
    def sign_out(request: Request, csrf: Annotated[str, Form(max_length=100)]) -> Response:
        checked(request, csrf, change=False)
        auth.end_session(request.app.state.db, request.cookies.get(auth.SESSION_COOKIE))
        redirect = RedirectResponse("/sign-in", status_code=303)
        redirect.delete_cookie(auth.SESSION_COOKIE)
        return redirect

    @app.get("/", include_in_schema=False)
    def overview(request: Request) -> HTMLResponse:
        session = signed_in(request)
        db, pipeline = state(request)
        report = health.check(db, pipeline, request.app.state.settings, downstream=False)
        unready = {problem.stage for problem in health.unready(report)}
        return page(request, "overview.html", session, report=report, unready=unready)

    @app.get("/browse/{record}", include_in_schema=False)
    def browse(
        request: Request,
        record: str,
        where: Annotated[str, Query(max_length=2000)] = "",
        sort: Annotated[str, Query(max_length=100)] = "-id",
        offset: int = 0,
    ) -> HTMLResponse:
        session = signed_in(request)
        if record not in BROWSED:
            raise HTTPException(404, f"nothing to browse named {record!r}")
        db, pipeline = state(request)
        table = RECORDS[record]
        filters = [part.strip() for part in where.split("&") if part.strip()]
        if len(filters) > MAX_FILTERS:
            raise HTTPException(400, f"at most {MAX_FILTERS} filters")
        offset = max(0, min(offset, 10_000_000))
        total, rows = records(db, table, filters, sort, PAGE_SIZE, offset)
        stage = pipeline.by_table.get(table.name)
        return page(
            request,
            "browse.html",
            session,
            record=record,
            columns=BROWSED[record],
            rows=rows,
            total=total,
            where=where,
            sort=sort,
            offset=offset,
            page_size=PAGE_SIZE,
            stage=stage.name if stage else None,
        )

    @app.post("/curate/{stage}/{decision}", include_in_schema=False)
    def curate(
        request: Request,
        stage: str,
        decision: str,
        csrf: Annotated[str, Form(max_length=100)],
        ids: Annotated[list[int], Form(max_length=PAGE_SIZE)] = [],  # noqa: B006
        back: Annotated[str, Form(max_length=2000)] = "/",
    ) -> Response:
        checked(request, csrf)
        db, pipeline = state(request)
        if stage not in pipeline.stages or decision not in curation.DECISIONS:
            raise HTTPException(404, "no such stage or decision")
        if not ids:
            raise HTTPException(400, "tick the items to decide about")
        decide_items(db, pipeline[stage], decision, ids, [])
        return RedirectResponse(
            back if re.fullmatch(r"/(?![/\\])[\w\-./?=&%+]*", back) else "/", status_code=303
        )

    @app.get("/dead", include_in_schema=False)
    def dead(request: Request) -> HTMLResponse:
        session = signed_in(request)
        db, pipeline = state(request)
        found: dict[str, list[Any]] = {}
        with db.read() as connection:
            for stage in pipeline:
                table = stage.table
                label = table.c.name if "name" in table.c else table.c.url if "url" in table.c else table.c.id
                found[stage.name] = list(
                    connection.execute(
                        select(table.c.id, label.label("label"), table.c.last_error, table.c.attempts)
                        .where(table.c.status == "dead")
                        .order_by(table.c.id)
                        .limit(200)
                    )
                )
        return page(request, "dead.html", session, found=found)

    @app.post("/requeue/{stage}", include_in_schema=False)
    def requeue(request: Request, stage: str, csrf: Annotated[str, Form(max_length=100)]) -> Response:
        checked(request, csrf)
        db, pipeline = state(request)
        if stage not in pipeline.stages:
            raise HTTPException(404, "no such stage")
        table = pipeline[stage].table
        with db.begin() as connection:
            queue.requeue(db, connection, table, table.c.status == "dead")
        return RedirectResponse("/dead", status_code=303)

    @app.get("/submit", include_in_schema=False)
    def submit_form(request: Request) -> HTMLResponse:
        return page(request, "submit.html", signed_in(request), report=None, error=None)

    @app.post("/submit", include_in_schema=False)
    def submit(
        request: Request,
        csrf: Annotated[str, Form(max_length=100)],
        domains: Annotated[str, Form(max_length=1_000_000)] = "",
        file: UploadFile | None = None,
    ) -> HTMLResponse:
        session = checked(request, csrf)
        db, pipeline = state(request)
        if file is not None and file.filename:
            data, suffix = file.file.read(MAX_UPLOAD_BYTES + 1), suffix_of(file.filename)
        else:
            data, suffix = domains.encode("utf-8"), ".txt"
        try:
            _, added = add_input(db, pipeline, request.app.state.settings, data, suffix)
        except HTTPException as problem:
            response = page(request, "submit.html", session, report=None, error=problem.detail)
            response.status_code = problem.status_code
            return response
        return page(request, "submit.html", session, report=added, error=None)

    @app.get("/search", include_in_schema=False)
    def search_form(request: Request) -> HTMLResponse:
        return page(request, "search.html", signed_in(request), plan=None, error=None, search_id=None)

    @app.post("/search", include_in_schema=False)
    def search(
        request: Request,
        csrf: Annotated[str, Form(max_length=100)],
        query: Annotated[str, Form(min_length=1, max_length=500)],
        area: Annotated[str, Form(min_length=1, max_length=200)],
        dry_run: Annotated[bool, Form()] = False,
    ) -> HTMLResponse:
        from leadpipe.cli import search as search_command

        session = checked(request, csrf)
        db, pipeline = state(request)
        settings = request.app.state.settings
        try:
            found = search_command.area_by_name(settings, area, None, None)
            plan = search_command.plan(settings, found)
        except ValueError as problem:
            response = page(request, "search.html", session, plan=None, error=str(problem), search_id=None)
            response.status_code = 400
            return response
        search_id = None
        if not dry_run:
            search_id = search_command.add(
                db, pipeline, settings, query, plan, included_type=None, language=None, region=None
            )
        return page(request, "search.html", session, plan=plan.lines(), error=None, search_id=search_id)

    @app.get("/export", include_in_schema=False)
    def export_contacts(
        request: Request, format: Literal["csv", "jsonl", "xlsx"] = "csv", per_domain: bool = False
    ) -> Response:
        signed_in(request)
        return export_file(request.app.state.db, format, per_domain, export.Filters())


class _SignInFirst(Exception):
    """A dashboard page asked for without a session: the answer is the sign-in page."""

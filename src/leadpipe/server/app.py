"""The web application: the HTTP API under ``/api/v1``, the dashboard, ``/healthz``, ``/readyz`` and
``/metrics``, over the same database as every worker (no call of the project's own API, anywhere).

Every error, whatever raised it, is answered in one shape, ``{"error": {"status": …, "message": …}}``.
Every route but the two health checks and the API's description (its OpenAPI schema and the page that
shows it, which hold no data) needs an API key (``Authorization: Bearer``, or the dashboard's session
cookie); there is no bypass, in any environment.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from leadpipe import __version__
from leadpipe.config import Settings
from leadpipe.db.connect import Database, DatabaseError
from leadpipe.engine import health
from leadpipe.engine.stage import Pipeline
from leadpipe.logs import redact

__all__ = ["create_app", "error"]

log = logging.getLogger("leadpipe.server")


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"status": status, "message": message}}, status_code=status, headers=headers
    )


MAX_BODY_BYTES = 25 * 1024 * 1024  # above the largest upload the API takes (20 MB) and its form's framing


class BodyLimit:
    """Refuses a request body larger than ``MAX_BODY_BYTES`` before it is read in full (a declared
    Content-Length at once, a chunked body as its bytes arrive), so no client can fill the disk or
    the memory of the server with one upload."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            await error(413, f"the request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB")(
                scope, receive, send
            )
            return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > MAX_BODY_BYTES:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await error(413, f"the request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB")(
                scope, receive, send
            )


class _TooLarge(Exception):
    pass


def create_app(settings: Settings, db: Database, pipeline: Pipeline) -> FastAPI:
    from leadpipe.server import api, metrics
    from leadpipe.server.dashboard import mount as mount_dashboard

    app = FastAPI(
        title="leadpipe",
        version=__version__,
        description="Businesses, their domains, sitemaps, pages and contacts; curation, submissions, searches,"
        " exports and the stages' state. Every route but /healthz and /readyz needs an API key"
        " (`leadpipe keys create`), sent as `Authorization: Bearer <key>`.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.state.settings, app.state.db, app.state.pipeline = settings, db, pipeline
    app.add_middleware(BodyLimit)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, problem: StarletteHTTPException) -> JSONResponse:
        if isinstance(problem.__cause__, _TooLarge):  # FastAPI calls a body it could not read a 400
            return error(413, f"the request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB")
        return error(problem.status_code, str(problem.detail), dict(problem.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, problem: RequestValidationError) -> JSONResponse:
        said = "; ".join(
            f"{'.'.join(str(part) for part in failure.get('loc', ()))}: {failure.get('msg', 'invalid')}"
            for failure in problem.errors()[:10]
        )
        return error(422, f"invalid request: {said}")

    @app.exception_handler(DatabaseError)
    @app.exception_handler(DBAPIError)
    async def database_down(request: Request, problem: Exception) -> JSONResponse:
        said = str(problem).splitlines()[0] if str(problem) else type(problem).__name__
        return error(503, redact(f"the database cannot be reached: {said}", settings.secrets()))

    @app.exception_handler(Exception)
    async def crashed(request: Request, problem: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=problem)
        return error(500, f"internal error: {type(problem).__name__} (the server's log has the details)")

    @app.get("/healthz", tags=["health"], summary="The process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Ready: the database answers and every stage with work has a live consumer that completes it",
        responses={503: {"description": "Not ready: each problem with its stage and reason"}},
    )
    def readyz() -> Any:
        try:
            report = health.check(db, pipeline, settings, downstream=False)
        except (DatabaseError, DBAPIError) as problem:
            said = str(problem).splitlines()[0] if str(problem) else type(problem).__name__
            return JSONResponse(
                {
                    "ready": False,
                    "problems": [{"stage": None, "message": redact(f"database: {said}", settings.secrets())}],
                },
                status_code=503,
            )
        problems = [
            {"stage": problem.stage, "message": problem.message} for problem in health.unready(report)
        ]
        return JSONResponse(
            {"ready": not problems, "problems": problems}, status_code=200 if not problems else 503
        )

    app.include_router(api.router)
    app.include_router(metrics.router)
    mount_dashboard(app)
    return app

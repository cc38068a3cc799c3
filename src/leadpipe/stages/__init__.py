"""The stage graph leadpipe runs: each stage, the records it consumes and what it produces.

    search_cells ──search──▶ businesses (a full cell: four smaller search_cells; a page: the next one)
    businesses ──resolve──▶ domains ──discover──▶ sitemap_files ──import──▶ pages ──scrape──▶ contacts
                                   └──────────── home page (and its links) ──────▶ pages
    contacts ──validate──▶ (each email's validation; its check cached in email_checks)

Stages are added here as they are built; a table whose records wait with no stage consuming them
is reported by ``leadpipe status`` as an orphaned queue.
"""

from __future__ import annotations

import importlib
from typing import Any

from leadpipe.config import Settings
from leadpipe.engine.stage import Pipeline
from leadpipe.stages import discover, resolve, scrape, search, sitemap_import, validate
from leadpipe.web.fetch import Fetcher
from leadpipe.web.render import Renderer

__all__ = [
    "PIPELINE",
    "discover",
    "load_pipeline",
    "resolve",
    "scrape",
    "search",
    "sitemap_import",
    "validate",
]


def _resources(settings: Settings) -> dict[str, Any]:
    fetcher = Fetcher(settings)
    resources: dict[str, Any] = {
        "fetcher": fetcher,
        **search.resources(settings),
        **validate.resources(settings),
    }
    if settings.render_js:  # the scrape stage renders script shells only when it finds a renderer here
        resources["renderer"] = Renderer(settings, fetcher)
    return resources


PIPELINE = Pipeline(
    [search.STAGE, resolve.STAGE, discover.STAGE, sitemap_import.STAGE, scrape.STAGE, validate.STAGE],
    resources=_resources,
)


def load_pipeline(path: str) -> Pipeline:
    """The pipeline named ``module:attribute`` (the ``LEADPIPE_PIPELINE`` setting)."""
    module_name, _, attribute = path.partition(":")
    try:
        pipeline = getattr(importlib.import_module(module_name), attribute or "PIPELINE")
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot load the pipeline {path!r}: {error}") from None
    if not isinstance(pipeline, Pipeline):
        raise ValueError(f"{path!r} is not a leadpipe Pipeline")
    return pipeline

"""The stage graph leadpipe runs: each stage, the records it consumes and what it produces.

    businesses ──resolve──▶ domains

Stages are added here as they are built; a table whose records wait with no stage consuming them
is reported by ``leadpipe status`` as an orphaned queue.
"""

from __future__ import annotations

import importlib

from leadpipe.engine.stage import Pipeline
from leadpipe.stages import resolve

PIPELINE = Pipeline([resolve.STAGE])


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

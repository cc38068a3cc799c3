"""``/metrics`` for Prometheus: the pipeline's state read from the database at each scrape, and this
process's own counts (its workers' items, its fetcher's answers by status class and their latency).

What the database holds is the same whichever process is scraped: per stage, items by status, the
age of the oldest eligible item, expired leases, live workers, completions in the last minutes, and
whether the stage is paused, stalled or without a consumer (the conditions the shipped alerting rules,
``deploy/prometheus/alerts.yml``, fire on). A scrape needs an API key, as every route does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from leadpipe.db.models import STATUSES
from leadpipe.engine import health
from leadpipe.server.auth import Key, reader
from leadpipe.web.fetch import Fetcher, Timings

__all__ = ["PipelineCollector", "router"]

router = APIRouter()
WORKER_EVENTS = ("claimed", "done", "retried", "dead", "lease_lost")


class PipelineCollector:
    """Reads the health report at each collection; ``workers`` are this process's, for their counts."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def collect(self) -> Iterator[Any]:
        state = self.app.state
        report = health.check(state.db, state.pipeline, state.settings, downstream=False)
        unready = {(problem.stage, problem.kind) for problem in health.unready(report)}
        items = GaugeMetricFamily("leadpipe_items", "Items of a stage by status", labels=["stage", "status"])
        oldest = GaugeMetricFamily(
            "leadpipe_oldest_eligible_seconds", "Age of the oldest item ready to run", labels=["stage"]
        )
        expired = GaugeMetricFamily(
            "leadpipe_expired_leases", "Running items whose lease expired", labels=["stage"]
        )
        live = GaugeMetricFamily("leadpipe_live_workers", "Live workers serving the stage", labels=["stage"])
        recent = GaugeMetricFamily(
            "leadpipe_completed_recently", "Items the stage completed in the last minutes", labels=["stage"]
        )
        paused = GaugeMetricFamily("leadpipe_stage_paused", "1 when the stage is paused", labels=["stage"])
        ready_work = GaugeMetricFamily("leadpipe_ready_items", "Items ready to run now", labels=["stage"])
        stalled = GaugeMetricFamily(
            "leadpipe_stage_stalled", "1 when ready work waits and nothing completed lately", labels=["stage"]
        )
        orphaned = GaugeMetricFamily(
            "leadpipe_stage_without_consumer",
            "1 when ready work waits and no live worker serves the stage",
            labels=["stage"],
        )
        for stage in report.stages:
            for status in STATUSES:
                items.add_metric([stage.name, status], stage.counts[status])
            oldest.add_metric([stage.name], stage.oldest_eligible_seconds or 0.0)
            expired.add_metric([stage.name], stage.expired_leases)
            live.add_metric([stage.name], stage.live_workers)
            recent.add_metric([stage.name], stage.completed_recently)
            paused.add_metric([stage.name], 1 if stage.paused else 0)
            ready_work.add_metric([stage.name], stage.pending_now)
            stalled.add_metric([stage.name], 1 if (stage.name, "stalled") in unready else 0)
            orphaned.add_metric([stage.name], 1 if (stage.name, "no_consumer") in unready else 0)
        workers = GaugeMetricFamily("leadpipe_workers", "Live workers, all stages")
        workers.add_metric([], len(report.workers))
        dead = GaugeMetricFamily("leadpipe_dead_workers", "Workers of this machine whose process is gone")
        dead.add_metric([], len(report.dead_workers))
        yield from (
            items,
            oldest,
            expired,
            live,
            recent,
            paused,
            ready_work,
            stalled,
            orphaned,
            workers,
            dead,
        )
        yield from self._own(getattr(state, "workers", []), [stage.name for stage in report.stages])

    def _own(self, workers: list[Any], stages: list[str]) -> Iterator[Any]:
        handled = CounterMetricFamily(
            "leadpipe_worker_items",
            "Items this process's workers claimed, completed, retried or gave up",
            labels=["stage", "event"],
        )
        # Every series from zero, in a process without workers too: rate() needs the series to exist.
        totals = {(stage, event): 0 for stage in stages for event in WORKER_EVENTS}
        fetchers: list[Fetcher] = []
        for worker in workers:
            for key, count in worker.counts.items():
                stage, _, event = key.partition(".")
                totals[stage, event] = totals.get((stage, event), 0) + count
            fetcher = worker.resources.get("fetcher")
            if isinstance(fetcher, Fetcher):
                fetchers.append(fetcher)
        for (stage, event), count in sorted(totals.items()):
            handled.add_metric([stage, event], count)
        yield handled
        latency = HistogramMetricFamily(
            "leadpipe_fetch_seconds",
            "Web requests by status class (error: no answer) and how long they took",
            labels=["status_class"],
        )
        for kind in sorted({kind for fetcher in fetchers for kind in fetcher.timings.counts}):
            buckets = [0] * len(Timings.BUCKETS)
            count, total = 0, 0.0
            for fetcher in fetchers:
                for position, value in enumerate(fetcher.timings.buckets.get(kind, [])):
                    buckets[position] += value
                count += fetcher.timings.counts[kind]
                total += fetcher.timings.sums.get(kind, 0.0)
            pairs = [
                (str(bound), float(value)) for bound, value in zip(Timings.BUCKETS, buckets, strict=True)
            ]
            latency.add_metric([kind], [*pairs, ("+Inf", float(count))], total)
        yield latency


@router.get("/metrics", tags=["health"], summary="Prometheus metrics", response_class=Response)
def metrics(request: Request, _: Annotated[Key, Depends(reader)]) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector(request.app))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

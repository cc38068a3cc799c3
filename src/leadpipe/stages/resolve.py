"""Business → domain: the business's website, normalised to the domain the later stages scrape."""

from __future__ import annotations

from leadpipe.db.models import businesses, domains
from leadpipe.engine.stage import Context, Insert, Item, Result, Stage
from leadpipe.extract.website import normalise


async def resolve(item: Item, context: Context) -> Result:
    if item["business_status"] == "CLOSED_PERMANENTLY":  # as Google Maps says: no one left to write to
        return Result(outcome="closed_permanently")
    site = normalise(item["website"], allow_private=context.settings.allow_private_networks)
    if site.domain:
        row = {"name": site.domain, "country": item["country"]}
        return Result(outcome="domain", outputs=[Insert(domains, [row], link="domain_id")])
    if site.profile_network:
        return Result(outcome=f"website_is_{site.profile_network}_profile")
    return Result(outcome="no_website")


STAGE = Stage(
    name="resolve",
    table=businesses,
    handler=resolve,
    description="business → domain (its website, normalised)",
    concurrency=16,
    batch_size=200,
    lease_seconds=30,
    max_runtime_seconds=10,
    max_attempts=3,
    missing_outputs=lambda: (businesses.c.outcome == "domain") & businesses.c.domain_id.is_(None),
    reads=("website", "country", "business_status"),
)

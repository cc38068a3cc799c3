"""Email contact → one status, and why: deliverable, undeliverable, risky or unknown.

The checks run cheapest first, and each is skipped once an earlier one has decided:

1. syntax (email-validator, no I/O): an address that cannot exist is undeliverable;
2. the cache: a check of the same address that still stands is reused, so an address costs one
   lookup and at most one paid call however many contacts share it;
3. DNS, unless switched off: MX records, else A/AAAA (the implicit MX of RFC 5321). No such domain,
   a null MX or no host at all is undeliverable; no answer within the short timeout is unknown;
4. the paid verifier, if one is chosen: its answer is final. A 429 or 5xx is retried later; a
   rejected key, no credits left or a reached spending cap pauses the stage, its item unburnt. It is
   asked only about a domain's first ``email_verifier_calls_per_domain`` addresses (its best: the
   best pages are scraped first, and a page's contacts are stored best first), so no one site can
   spend the budget; the domain's others keep the DNS verdict, with the reason.

Role accounts (info@, kontakt@ …) and disposable domains are flagged, not dropped: for a small
business info@ is often the only address, so a deliverable one becomes risky with the reason "role"
or "disposable". A disposable domain never costs a paid call.

The handler writes nothing itself: its check goes out as an output, a new ``email_checks`` row or an
update of the stale one. The cached checks of a claimed batch, and each address's place among its
domain's, are read in the claim's transaction (the stage's context); the day's count of paid calls
through :class:`EmailChecks`, one of the worker's resources, in a short transaction of its own, never
open across DNS or HTTP.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources as package_data
from typing import Any, cast

from email_validator import EmailNotValidError, ValidatedEmail, validate_email
from sqlalchemy import Connection, Select, func, select

from leadpipe.config import Settings
from leadpipe.db.connect import Database, now, utc
from leadpipe.db.models import contacts, email_checks
from leadpipe.engine.stage import (
    Backoff,
    Context,
    Insert,
    Item,
    PauseStage,
    Result,
    RetryLater,
    Stage,
    Update,
)
from leadpipe.web.dns_lookup import DnsResolver, DnsUnanswered, NoSuchDomain, Resolver
from leadpipe.web.verifiers import Status, Verdict, Verifier, VerifierRefused, make_verifier

# Mailboxes of a function rather than a person, English and German, as businesses name them.
ROLE_ACCOUNTS = frozenset(
    """
    info information office contact contacts kontakt hello hallo hi mail email post team
    sales vertrieb verkauf support service kundenservice help hilfe admin administrator
    buero büro sekretariat zentrale empfang reception praxis kanzlei management verwaltung
    enquiries enquiry inquiries inquiry anfrage anfragen feedback booking bookings reservation
    reservations reservierung termin termine order orders bestellung shop store
    billing accounts accounting buchhaltung rechnung invoice invoices
    jobs job career careers karriere bewerbung hr personal marketing press presse media news
    newsletter privacy datenschutz legal security abuse noreply no-reply webmaster postmaster
    hostmaster it
    """.split()
)


def _disposable_domains() -> frozenset[str]:
    text = package_data.files("leadpipe.stages").joinpath("disposable_domains.txt").read_text("utf-8")
    lines = (line.strip().lower() for line in text.splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


DISPOSABLE_DOMAINS = _disposable_domains()


def is_role(local_part: str) -> bool:
    """Whether the mailbox is a function's: ``info``, ``info+web``, ``info.berlin``, ``sales-team``."""
    local = local_part.lower().split("+", 1)[0]
    return local in ROLE_ACCOUNTS or re.split(r"[._-]", local, maxsplit=1)[0] in ROLE_ACCOUNTS


def is_disposable(domain: str) -> bool:
    """Whether the domain, or a domain it is under, is a known throwaway mail service."""
    labels = domain.lower().split(".")
    return any(".".join(labels[start:]) in DISPOSABLE_DOMAINS for start in range(len(labels) - 1))


@dataclass(frozen=True)
class Cached:
    """An address's row in ``email_checks``."""

    id: int
    status: Status
    reason: str | None
    provider: str
    checked_at: datetime


_earlier = contacts.alias("earlier")
# How many emails of a contact's domain came before it; made once, not at every claim (an alias's
# columns are built anew each time it is made).
_EMAILS_BEFORE = (
    select(func.count())
    .where(
        _earlier.c.domain_id == contacts.c.domain_id,
        _earlier.c.kind == "email",
        _earlier.c.id < contacts.c.id,
    )
    .scalar_subquery()
)


def _load_checks(connection: Connection, items: list[dict[str, Any]]) -> None:
    """Each claimed email's cached check, or None, and how many of its domain's emails came before it:
    two queries for the batch, at claim."""
    addresses = {item["id"]: _normalized(item["value"]) for item in items}
    wanted = {address for address in addresses.values() if address is not None}
    found: list[Any] = []
    if wanted:
        found = list(connection.execute(select(email_checks).where(email_checks.c.address.in_(wanted))))
    cached = {
        row.address: Cached(row.id, cast(Status, row.status), row.reason, row.provider, utc(row.checked_at))
        for row in found
    }
    claimed = select(contacts.c.id, _EMAILS_BEFORE).where(contacts.c.id.in_([item["id"] for item in items]))
    places = {contact_id: before for contact_id, before in connection.execute(claimed)}
    for item in items:
        item["email_check"] = cached.get(addresses[item["id"]])
        item["emails_before"] = places[item["id"]]


def _normalized(value: str) -> str | None:
    """An email's key in ``email_checks`` (None when it is no address at all)."""
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


class EmailChecks:
    """This worker's count of paid verifier calls, checked against the caps in ``email_checks``.

    Every read is one short transaction on an engine of its own (the worker's connection is the
    engine's, one transaction at a time), run in a thread so the event loop never waits on it.
    """

    def __init__(self, settings: Settings) -> None:
        self.database_url = settings.database_url
        self._db: Database | None = None
        self.calls_this_run = 0
        self._day: datetime | None = None
        self._day_start = 0  # the calls of every worker today, when this worker first counted
        self._day_mine = 0

    async def _read(self, statement: Select[Any]) -> list[Any]:
        if self._db is None:
            self._db = Database(self.database_url)
        db = self._db

        def run() -> list[Any]:
            with db.engine.connect() as connection:
                return list(connection.execute(statement))

        return await asyncio.to_thread(run)

    async def reserve_call(self, provider: str, settings: Settings) -> None:
        """Count one paid call against the caps, or pause the stage if either is reached.

        The day's count comes from the table: each call made leaves a row checked that day (by
        every worker, across restarts). This worker's own calls reach the table only when their
        items commit, so it also counts them itself since it first looked today.
        """
        midnight = now().replace(hour=0, minute=0, second=0, microsecond=0)
        counted = select(func.count()).where(
            email_checks.c.provider == provider, email_checks.c.checked_at >= midnight
        )
        recorded = int((await self._read(counted))[0][0])
        if midnight != self._day:
            self._day, self._day_start, self._day_mine = midnight, recorded, 0
        today = max(recorded, self._day_start + self._day_mine)
        if self.calls_this_run >= settings.email_verifier_calls_per_run:
            raise PauseStage(f"verifier spending cap reached ({self.calls_this_run} calls this run)")
        if today >= settings.email_verifier_calls_per_day:
            raise PauseStage(f"verifier spending cap reached ({today} calls today)")
        self.calls_this_run += 1
        self._day_mine += 1

    async def aclose(self) -> None:
        if self._db is not None:
            self._db.dispose()


async def validate(item: Item, context: Context) -> Result:
    try:
        email = validate_email(item["value"].strip(), check_deliverability=False)
    except EmailNotValidError as error:
        return _result(Verdict("undeliverable", f"syntax: {error}"))
    address = email.normalized.lower()
    flags = _flags(email)
    cached: Cached | None = item["email_check"]
    if cached is not None and _stands(cached, flags, context.settings):
        return _result(Verdict(cached.status, cached.reason))
    verdict, provider = await _check(email, flags, item, context)
    verdict = _flagged(verdict, flags)
    if provider is None:
        return _result(verdict)
    row = {
        "status": verdict.status,
        "reason": _short(verdict.reason),
        "provider": provider,
        "checked_at": now(),
    }
    output = (
        Insert(email_checks, [{"address": address, **row}])
        if cached is None
        else Update(email_checks, cached.id, row)
    )
    return _result(verdict, output)


def _flags(email: ValidatedEmail) -> list[str]:
    found = [("role", is_role(email.local_part)), ("disposable", is_disposable(email.domain))]
    return [flag for flag, present in found if present]


def _stands(cached: Cached, flags: list[str], settings: Settings) -> bool:
    """Whether a cached check still answers for the address."""
    if cached.status == "unknown":
        return False
    if cached.checked_at < now() - timedelta(days=settings.email_check_max_age_days):
        return False
    if cached.provider != "dns" or settings.email_verifier == "none":
        return True
    # Made by DNS alone while a verifier is chosen now: it stands where the verifier would not be asked.
    return cached.status == "undeliverable" or "disposable" in flags


async def _check(
    email: ValidatedEmail, flags: list[str], item: Item, context: Context
) -> tuple[Verdict, str | None]:
    """The verdict on the address, and who made it (None when nothing was checked)."""
    settings = context.settings
    provider: str | None = None
    verdict = Verdict("unknown", "not checked: DNS checks are off")
    if settings.email_dns_checks:
        provider = "dns"
        verdict = await mail_hosts(context.resources["resolver"], email.ascii_domain, settings)
    verifier: Verifier | None = context.resources.get("verifier")
    if verifier is None or verdict.status == "undeliverable" or "disposable" in flags:
        return verdict, provider
    if item["emails_before"] >= settings.email_verifier_calls_per_domain:
        unasked = (
            f"not sent to the verifier: its calls go to the domain's first "
            f"{settings.email_verifier_calls_per_domain} addresses (cap per domain)"
        )
        return Verdict(verdict.status, "; ".join(filter(None, (verdict.reason, unasked)))), provider
    checks: EmailChecks = context.resources["email_checks"]
    await checks.reserve_call(verifier.name, settings)
    try:
        answer = await verifier.verify(email.normalized)
    except VerifierRefused as refused:
        raise PauseStage(str(refused)) from None
    if not answer.transient:
        return answer, verifier.name
    if item["attempts"] < context.stage.max_attempts:
        delay = answer.retry_after or context.stage.backoff.delay(item["attempts"])
        raise RetryLater(answer.reason or "verifier unavailable", delay)
    return answer, None  # out of attempts: unknown, and nothing worth keeping


async def mail_hosts(resolver: Resolver, domain: str, settings: Settings) -> Verdict:
    """Whether ``domain`` can receive mail, from its MX records or else its addresses."""
    try:
        async with asyncio.timeout(settings.email_dns_timeout_seconds):
            hosts = await resolver.query(domain, "MX")
            if hosts and all(host == "." for host in hosts):
                return Verdict("undeliverable", "null MX: the domain takes no mail")
            if hosts:
                return Verdict("deliverable")
            # Without MX records, mail goes to the domain's own address (RFC 5321, section 5.1).
            for rdtype in ("A", "AAAA"):
                if await resolver.query(domain, rdtype):
                    return Verdict("deliverable")
            return Verdict("undeliverable", "no mail server: no MX, A or AAAA record")
    except NoSuchDomain:
        return Verdict("undeliverable", "no such domain")
    except DnsUnanswered as error:
        return Verdict("unknown", str(error))
    except TimeoutError:
        return Verdict("unknown", "DNS timeout")


def _flagged(verdict: Verdict, flags: list[str]) -> Verdict:
    """Role and disposable make a deliverable address risky, and join the reason of a risky or an
    unknown one; an undeliverable address needs no more reasons."""
    if not flags or verdict.status == "undeliverable":
        return verdict
    reasons = verdict.reason.split("; ") if verdict.reason else []
    reasons += [flag for flag in flags if flag not in reasons]
    status: Status = "risky" if verdict.status == "deliverable" else verdict.status
    return Verdict(status, "; ".join(reasons))


def _short(reason: str | None) -> str | None:
    return reason[:200] if reason else None  # the width of the reason columns


def _result(verdict: Verdict, *outputs: Insert | Update) -> Result:
    return Result(
        outcome=verdict.status,
        values={"validation": verdict.status, "validation_reason": _short(verdict.reason)},
        outputs=outputs,
    )


def resources(settings: Settings) -> dict[str, Any]:
    """What the handler shares across items, made once per worker: the DNS resolver (tests hand in
    a fake one), the reader of ``email_checks`` and the verifier (None unless one is chosen)."""
    return {
        "resolver": DnsResolver(settings),
        "email_checks": EmailChecks(settings),
        "verifier": make_verifier(settings),
    }


STAGE = Stage(
    name="validate",
    table=contacts,
    handler=validate,
    description="email contact → deliverable, undeliverable, risky or unknown, and why",
    concurrency=8,
    batch_size=50,
    lease_seconds=60,
    max_runtime_seconds=120,
    max_attempts=4,
    backoff=Backoff(base=60),
    skip_when={"not an email": lambda settings: contacts.c.kind != "email"},
    context=_load_checks,
    reads=("value",),
)

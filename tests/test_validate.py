"""Email validation (contact → status and reason) through the real engine, on SQLite and PostgreSQL.

DNS comes from a table (this machine has no network, and the tests must not need one); DeBounce and
ZeroBounce are faked on loopback in their own wire formats (tests/fake_verifiers.py).
"""

from __future__ import annotations

import asyncio
import io
import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import dns.nameserver
import pytest
from pydantic import SecretStr
from sqlalchemy import insert, select, update

from leadpipe import logs
from leadpipe.config import Settings
from leadpipe.db.connect import Database, now, utc
from leadpipe.db.models import contacts, domains, email_checks, stage_pauses
from leadpipe.engine.stage import Pipeline, Stage
from leadpipe.stages import PIPELINE as REAL
from leadpipe.stages import validate
from leadpipe.web.dns_lookup import DnsResolver, NoSuchDomain
from leadpipe.web.verifiers import Verdict, VerifierRefused, make_verifier
from tests.fake_verifiers import (
    ZEROBOUNCE_KEY_OR_CREDITS,
    FakeVerifiers,
    Reply,
    debounce_failure,
    debounce_result,
    zerobounce_failure,
    zerobounce_result,
)
from tests.helpers import run_until_idle

KEY = "vk-5f3a9c0e7b214d6e9a1c"
MAIL = {"MX": ["mx1.mailhost.de", "mx2.mailhost.de"]}
ADDRESS = "anna@kunde.de"


class FakeResolver:
    """DNS as a table of names and their records; a name not in it does not exist, and a name in
    ``hanging`` never answers."""

    def __init__(
        self, records: dict[str, dict[str, list[str]]] | None = None, hanging: tuple[str, ...] = ()
    ) -> None:
        self.records = records or {}
        self.hanging = hanging
        self.queries: list[tuple[str, str]] = []

    async def query(self, name: str, rdtype: str) -> list[str]:
        self.queries.append((name, rdtype))
        if name in self.hanging:
            await asyncio.sleep(3600)
        if name not in self.records:
            raise NoSuchDomain(name)
        return self.records[name].get(rdtype, [])


@pytest.fixture
def fake() -> Iterator[FakeVerifiers]:
    server = FakeVerifiers(KEY).start()
    yield server
    server.stop()


def tuned(settings: Settings, **changes: Any) -> Settings:
    return Settings(**{**settings.model_dump(), **changes})


def with_verifier(
    settings: Settings, fake: FakeVerifiers, vendor: str, key: str | None = KEY, **changes: Any
) -> Settings:
    secret = SecretStr(key) if key else None
    return tuned(
        settings,
        email_verifier=vendor,
        debounce_api_key=secret,
        zerobounce_api_key=secret,
        debounce_url=f"{fake.url}/debounce/v1/",
        zerobounce_url=f"{fake.url}/zerobounce/v2/",
        **changes,
    )


def add_contacts(db: Database, *values: str, kind: str = "email", domain: str = "kunde.de") -> None:
    with db.begin() as connection:
        domain_id = connection.execute(select(domains.c.id).where(domains.c.name == domain)).scalar()
        if domain_id is None:
            domain_id = connection.execute(
                insert(domains).values(name=domain).returning(domains.c.id)
            ).scalar_one()
        rows = [{"domain_id": domain_id, "kind": kind, "value": value} for value in values]
        connection.execute(insert(contacts), rows)


def run(db: Database, settings: Settings, resolver: FakeResolver, stage: Stage = validate.STAGE) -> None:
    resources = {**validate.resources(settings), "resolver": resolver}
    run_until_idle(db, settings, Pipeline([stage]), resources=resources)


def contact_rows(db: Database) -> dict[str, Any]:
    with db.engine.connect() as connection:
        return {row.value: row for row in connection.execute(select(contacts))}


def results(db: Database) -> dict[str, tuple[str | None, str | None]]:
    return {value: (row.validation, row.validation_reason) for value, row in contact_rows(db).items()}


def checks(db: Database) -> dict[str, Any]:
    with db.engine.connect() as connection:
        return {row.address: row for row in connection.execute(select(email_checks))}


def pauses(db: Database) -> dict[str, str]:
    with db.engine.connect() as connection:
        return {row.stage: row.reason for row in connection.execute(select(stage_pauses))}


# -- syntax, DNS, flags ---------------------------------------------------------------------------


def test_addresses_that_cannot_exist_are_undeliverable_without_a_lookup(
    db: Database, settings: Settings
) -> None:
    resolver = FakeResolver({"kunde.de": MAIL})
    add_contacts(db, "info(at)kunde.de", "max@@kunde.de", "max@localhost", "max mustermann@kunde.de")
    run(db, settings, resolver)
    for value, row in contact_rows(db).items():
        assert (row.status, row.outcome, row.validation) == ("done", "undeliverable", "undeliverable"), value
        assert row.validation_reason.startswith("syntax: "), value
    assert resolver.queries == []
    assert checks(db) == {}  # syntax costs nothing to check again


def test_mail_servers_in_dns_decide_deliverable_or_undeliverable(db: Database, settings: Settings) -> None:
    umlauts = "bäckerei-müller.de".encode("idna").decode()
    resolver = FakeResolver(
        {
            "baeckerei-schmidt.de": MAIL,
            umlauts: MAIL,
            "nur-a-record.de": {"A": ["203.0.113.7"]},
            "nur-ipv6.de": {"AAAA": ["2001:db8::7"]},
            "ohne-post.de": {},  # exists, with neither mail server nor address
            "null-mx.de": {"MX": ["."]},
        }
    )
    add_contacts(
        db,
        "m.weber@baeckerei-schmidt.de",
        "jörg@bäckerei-müller.de",
        "anna@nur-a-record.de",
        "anna@nur-ipv6.de",
        "anna@ohne-post.de",
        "anna@null-mx.de",
        "anna@gibt-es-nicht.de",
    )
    run(db, settings, resolver)
    assert results(db) == {
        "m.weber@baeckerei-schmidt.de": ("deliverable", None),
        "jörg@bäckerei-müller.de": ("deliverable", None),
        "anna@nur-a-record.de": ("deliverable", None),
        "anna@nur-ipv6.de": ("deliverable", None),
        "anna@ohne-post.de": ("undeliverable", "no mail server: no MX, A or AAAA record"),
        "anna@null-mx.de": ("undeliverable", "null MX: the domain takes no mail"),
        "anna@gibt-es-nicht.de": ("undeliverable", "no such domain"),
    }
    assert resolver.queries.count(("baeckerei-schmidt.de", "MX")) == 1
    assert ("baeckerei-schmidt.de", "A") not in resolver.queries  # the MX answered: no fallback
    found = checks(db)
    assert {row.provider for row in found.values()} == {"dns"}
    assert found["anna@null-mx.de"].status == "undeliverable"
    assert "jörg@bäckerei-müller.de" in found


def test_role_accounts_are_flagged_risky_not_dropped(db: Database, settings: Settings) -> None:
    resolver = FakeResolver({"kunde.de": MAIL})
    roles = [
        "info@kunde.de",
        "Kontakt@kunde.de",
        "buero@kunde.de",
        "sales-team@kunde.de",
        "info+web@kunde.de",
    ]
    people = ["max.mustermann@kunde.de", "informatik.fan@kunde.de", "j.info@kunde.de"]
    add_contacts(db, *roles, *people)
    run(db, settings, resolver)
    found = results(db)
    assert {value: found[value] for value in roles} == {value: ("risky", "role") for value in roles}
    assert {value: found[value] for value in people} == {value: ("deliverable", None) for value in people}
    assert contact_rows(db)["info@kunde.de"].outcome == "risky"


def test_disposable_domains_are_flagged_risky(db: Database, settings: Settings) -> None:
    resolver = FakeResolver(
        {"mailinator.com": MAIL, "inbox.mailinator.com": MAIL, "yopmail.com": MAIL, "mailinator.de": MAIL}
    )
    add_contacts(
        db, "x7k2@mailinator.com", "x7k2@inbox.mailinator.com", "info@yopmail.com", "x7k2@mailinator.de"
    )
    run(db, settings, resolver)
    assert results(db) == {
        "x7k2@mailinator.com": ("risky", "disposable"),
        "x7k2@inbox.mailinator.com": ("risky", "disposable"),
        "info@yopmail.com": ("risky", "role; disposable"),
        "x7k2@mailinator.de": ("deliverable", None),  # not on the list
    }


def test_a_dns_timeout_is_unknown_and_quick(db: Database, settings: Settings) -> None:
    resolver = FakeResolver(hanging=("langsam.de",))
    add_contacts(db, *[f"person{n}@langsam.de" for n in range(12)])
    started = time.monotonic()
    run(db, tuned(settings, email_dns_timeout_seconds=0.2), resolver)
    elapsed = time.monotonic() - started
    assert set(results(db).values()) == {("unknown", "DNS timeout")}
    assert elapsed < 3.0  # 12 addresses, 8 at a time: two rounds of 0.2 s, and the worker's start and stop
    assert {row.status for row in contact_rows(db).values()} == {"done"}


@pytest.mark.parametrize("servers", ["silent", "none"])
def test_without_a_network_the_real_resolver_says_unknown_within_its_timeout(servers: str) -> None:
    """dnspython itself, asking a local port that never answers, or no server at all."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", port)] if servers == "silent" else []
        settings = Settings(email_dns_timeout_seconds=0.3)
        resolver = DnsResolver(settings, nameservers=nameservers)
        started = time.monotonic()
        verdict = asyncio.run(validate.mail_hosts(resolver, "baeckerei-schmidt.de", settings))
        elapsed = time.monotonic() - started
    assert verdict.status == "unknown"
    assert verdict.reason == ("DNS timeout" if servers == "silent" else "no DNS server answered")
    assert elapsed < 1.0


def test_dns_switched_off_gives_unknown_without_lookups(db: Database, settings: Settings) -> None:
    resolver = FakeResolver({"kunde.de": MAIL})
    add_contacts(db, ADDRESS, "info@kunde.de", "anna@@kunde.de")
    run(db, tuned(settings, email_dns_checks=False), resolver)
    found = results(db)
    assert found[ADDRESS] == ("unknown", "not checked: DNS checks are off")
    assert found["info@kunde.de"] == ("unknown", "not checked: DNS checks are off; role")
    assert found["anna@@kunde.de"][0] == "undeliverable"
    assert resolver.queries == []
    assert checks(db) == {}


def test_contacts_that_are_not_emails_are_never_claimed(db: Database, settings: Settings) -> None:
    resolver = FakeResolver({"kunde.de": MAIL})
    add_contacts(db, "+49 30 1234567", kind="phone")
    add_contacts(db, "https://www.instagram.com/kunde", kind="social")
    add_contacts(db, ADDRESS)
    run(db, settings, resolver)
    rows = contact_rows(db)
    for value in ("+49 30 1234567", "https://www.instagram.com/kunde"):
        assert (rows[value].status, rows[value].outcome, rows[value].attempts) == (
            "skipped",
            "not an email",
            0,
        )
        assert rows[value].validation is None
    assert rows[ADDRESS].validation == "deliverable"
    assert resolver.queries == [("kunde.de", "MX")]


def test_the_pipeline_validates_after_scraping(settings: Settings) -> None:
    assert list(REAL.stages)[-1] == "validate"
    assert REAL.by_table["contacts"].name == "validate"
    made = REAL.resources(settings)
    try:
        assert isinstance(made["resolver"], DnsResolver)
        assert made["verifier"] is None  # none is chosen by default
    finally:
        for resource in made.values():
            if hasattr(resource, "aclose"):
                asyncio.run(resource.aclose())


# -- the paid verifiers, answer by answer -----------------------------------------------------------

DEBOUNCE_ANSWERS: list[tuple[Reply, Verdict]] = [
    (debounce_result(ADDRESS, "5"), Verdict("deliverable")),
    (debounce_result(ADDRESS, "5", role=True), Verdict("risky", "role")),
    (debounce_result(ADDRESS, "1"), Verdict("undeliverable", "syntax")),
    (debounce_result(ADDRESS, "2"), Verdict("undeliverable", "spam trap")),
    (debounce_result(ADDRESS, "3"), Verdict("risky", "disposable")),
    (debounce_result(ADDRESS, "4"), Verdict("risky", "catch-all")),
    (debounce_result(ADDRESS, "6"), Verdict("undeliverable", "mailbox does not exist")),
    (debounce_result(ADDRESS, "7"), Verdict("unknown", "the mail server gave no answer")),
    (debounce_result(ADDRESS, "8", role=True), Verdict("risky", "role")),
    (debounce_result(ADDRESS, "9", result="Safe to Send"), Verdict("deliverable", "debounce code 9")),
    (debounce_result(ADDRESS, "", result="Invalid"), Verdict("undeliverable", "debounce code ?")),
    (debounce_failure("Invalid email address"), Verdict("unknown", "debounce: Invalid email address")),
    (debounce_failure("Rate limit reached"), Verdict("unknown", "debounce: Rate limit reached", True)),
    (
        Reply(429, {"error": "Too Many Requests"}, headers={"Retry-After": "30"}),
        Verdict("unknown", "debounce: rate limited (HTTP 429)", True, 30.0),
    ),
    (
        Reply(429, b"", headers={"Retry-After": "99999999999999"}),
        Verdict("unknown", "debounce: rate limited (HTTP 429)", True, 86400.0),
    ),
    (Reply(429, b""), Verdict("unknown", "debounce: rate limited (HTTP 429)", True)),
    (Reply(500, b"Internal Server Error"), Verdict("unknown", "debounce: HTTP 500", True)),
    (Reply(503, b"Service Unavailable"), Verdict("unknown", "debounce: HTTP 503", True)),
    (debounce_failure("Bad request", status=400), Verdict("unknown", "debounce answered HTTP 400")),
    (
        Reply(200, b"<html>maintenance</html>"),
        Verdict("unknown", "debounce: an answer that is not JSON", True),
    ),
    (Reply(200, {"success": "1"}), Verdict("unknown", "debounce: an answer without a result", True)),
    (Reply(200, {}, delay=1.0), Verdict("unknown", "debounce: no answer in time", True)),
]
ZEROBOUNCE_ANSWERS: list[tuple[Reply, Verdict]] = [
    (zerobounce_result(ADDRESS, "valid"), Verdict("deliverable")),
    (zerobounce_result(ADDRESS, "valid", "alias_address"), Verdict("deliverable")),
    (
        zerobounce_result(ADDRESS, "invalid", "mailbox_not_found"),
        Verdict("undeliverable", "mailbox not found"),
    ),
    (zerobounce_result(ADDRESS, "invalid", "no_dns_entries"), Verdict("undeliverable", "no dns entries")),
    (zerobounce_result(ADDRESS, "invalid"), Verdict("undeliverable", "invalid")),
    (zerobounce_result(ADDRESS, "catch-all"), Verdict("risky", "catch-all")),
    (
        zerobounce_result(ADDRESS, "unknown", "mail_server_did_not_respond"),
        Verdict("unknown", "mail server did not respond"),
    ),
    (zerobounce_result(ADDRESS, "unknown", "greylisted"), Verdict("unknown", "greylisted")),
    (zerobounce_result(ADDRESS, "spamtrap"), Verdict("undeliverable", "spam trap")),
    (zerobounce_result(ADDRESS, "abuse"), Verdict("risky", "abuse")),
    (zerobounce_result(ADDRESS, "do_not_mail", "role_based"), Verdict("risky", "role")),
    (zerobounce_result(ADDRESS, "do_not_mail", "role_based_catch_all"), Verdict("risky", "catch-all; role")),
    (zerobounce_result(ADDRESS, "do_not_mail", "disposable"), Verdict("risky", "disposable")),
    (
        zerobounce_result(ADDRESS, "do_not_mail", "global_suppression"),
        Verdict("undeliverable", "global suppression"),
    ),
    (zerobounce_result(ADDRESS, "do_not_mail", "toxic"), Verdict("undeliverable", "toxic")),
    (zerobounce_result(ADDRESS, "brand_new"), Verdict("unknown", "zerobounce status brand_new")),
    # An error about the request while the account has credits: ZeroBounce's 200 with "error".
    (
        zerobounce_failure("Missing parameter: email"),
        Verdict("unknown", "zerobounce: Missing parameter: email"),
    ),
    (
        Reply(429, b"", headers={"Retry-After": "5"}),
        Verdict("unknown", "zerobounce: rate limited (HTTP 429)", True, 5.0),
    ),
    (
        Reply(429, b"", headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        Verdict("unknown", "zerobounce: rate limited (HTTP 429)", True, 0.0),
    ),
    (Reply(502, b"Bad Gateway"), Verdict("unknown", "zerobounce: HTTP 502", True)),
    (Reply(200, b"<html></html>"), Verdict("unknown", "zerobounce: an answer that is not JSON", True)),
    (Reply(200, [1, 2]), Verdict("unknown", "zerobounce: an answer without a result", True)),
    (Reply(200, {}, delay=1.0), Verdict("unknown", "zerobounce: no answer in time", True)),
]


def ask(fake: FakeVerifiers, vendor: str, key: str | None = KEY) -> Verdict:
    settings = with_verifier(Settings(), fake, vendor, key, email_verifier_timeout_seconds=0.5)
    verifier = make_verifier(settings)
    assert verifier is not None

    async def verify() -> Verdict:
        try:
            return await verifier.verify(ADDRESS)
        finally:
            await verifier.aclose()

    return asyncio.run(verify())


@pytest.mark.parametrize(
    ("vendor", "reply", "verdict"),
    [("debounce", reply, verdict) for reply, verdict in DEBOUNCE_ANSWERS]
    + [("zerobounce", reply, verdict) for reply, verdict in ZEROBOUNCE_ANSWERS],
)
def test_every_verifier_answer_maps_to_one_status(
    fake: FakeVerifiers, vendor: str, reply: Reply, verdict: Verdict
) -> None:
    fake.replies[ADDRESS] = reply
    assert ask(fake, vendor) == verdict
    path, query = fake.requests[0]
    if vendor == "debounce":
        assert (path, query) == ("/debounce/v1/", {"api": KEY, "email": ADDRESS})
    else:
        assert (path, query) == (
            "/zerobounce/v2/validate",
            {"api_key": KEY, "email": ADDRESS, "ip_address": ""},
        )


@pytest.mark.parametrize(
    ("vendor", "key", "credits", "reply", "reason"),
    [
        ("debounce", "wrong-key-000", 10, None, "debounce rejected the API key (HTTP 401)"),
        ("debounce", KEY, 0, None, "debounce is out of credits (HTTP 402)"),
        ("debounce", KEY, 10, Reply(403, b"Forbidden"), "debounce rejected the API key (HTTP 403)"),
        ("debounce", KEY, 10, debounce_failure("Wrong API"), "debounce rejected the API key: Wrong API"),
        ("debounce", KEY, 10, debounce_failure("Credits Low"), "debounce is out of credits: Credits Low"),
        ("debounce", None, 10, None, "debounce has no API key: set LEADPIPE_DEBOUNCE_API_KEY"),
        (
            "zerobounce",
            "wrong-key-000",
            10,
            None,
            f"zerobounce rejected the API key: {ZEROBOUNCE_KEY_OR_CREDITS}",
        ),
        ("zerobounce", KEY, 0, None, f"zerobounce is out of credits: {ZEROBOUNCE_KEY_OR_CREDITS}"),
        ("zerobounce", KEY, 10, Reply(401, b""), "zerobounce rejected the API key (HTTP 401)"),
        ("zerobounce", None, 10, None, "zerobounce has no API key: set LEADPIPE_ZEROBOUNCE_API_KEY"),
    ],
)
def test_a_rejected_key_or_no_credits_is_a_refusal_not_a_status(
    fake: FakeVerifiers, vendor: str, key: str | None, credits: int, reply: Reply | None, reason: str
) -> None:
    fake.credits = credits
    if reply is not None:
        fake.replies[ADDRESS] = reply
    with pytest.raises(VerifierRefused) as refused:
        ask(fake, vendor, key)
    assert str(refused.value) == reason
    assert KEY not in reason


def test_an_error_zerobounce_cannot_explain_pauses_rather_than_marks_unknown(fake: FakeVerifiers) -> None:
    fake.replies[ADDRESS] = zerobounce_failure("Service temporarily unavailable")
    fake.credits_reply = Reply(503, b"Service Unavailable")
    with pytest.raises(VerifierRefused) as refused:
        ask(fake, "zerobounce")
    assert str(refused.value) == "zerobounce refused: Service temporarily unavailable"
    assert [path for path, _ in fake.requests] == ["/zerobounce/v2/validate", "/zerobounce/v2/getcredits"]


# -- the paid verifiers in the stage ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("vendor", "problem", "reason"),
    [
        ("debounce", "key", "debounce rejected the API key (HTTP 401)"),
        ("debounce", "credits", "debounce is out of credits (HTTP 402)"),
        ("zerobounce", "key", f"zerobounce rejected the API key: {ZEROBOUNCE_KEY_OR_CREDITS}"),
        ("zerobounce", "credits", f"zerobounce is out of credits: {ZEROBOUNCE_KEY_OR_CREDITS}"),
    ],
)
def test_a_refusal_pauses_the_stage_and_hands_the_items_back_unburnt(
    db: Database, settings: Settings, fake: FakeVerifiers, vendor: str, problem: str, reason: str
) -> None:
    if problem == "credits":
        fake.credits = 0
    key = "wrong-key-000" if problem == "key" else KEY
    add_contacts(db, ADDRESS, "ben@kunde.de")
    run(db, with_verifier(settings, fake, vendor, key), FakeResolver({"kunde.de": MAIL}))
    assert pauses(db) == {"validate": reason}
    for row in contact_rows(db).values():
        assert (row.status, row.attempts, row.validation, row.outcome) == ("pending", 0, None, None)
    assert checks(db) == {}


def test_the_verifier_answers_after_dns_and_not_for_what_dns_or_the_list_settled(
    db: Database, settings: Settings, fake: FakeVerifiers
) -> None:
    fake.replies["info@kunde.de"] = debounce_result("info@kunde.de", "4")
    fake.replies["max@kunde.de"] = debounce_result("max@kunde.de", "6")
    add_contacts(db, ADDRESS, "info@kunde.de", "max@kunde.de", "anna@gibt-es-nicht.de", "x7k2@mailinator.com")
    resolver = FakeResolver({"kunde.de": MAIL, "mailinator.com": MAIL})
    run(db, with_verifier(settings, fake, "debounce"), resolver)
    assert results(db) == {
        ADDRESS: ("deliverable", None),
        "info@kunde.de": ("risky", "catch-all; role"),
        "max@kunde.de": ("undeliverable", "mailbox does not exist"),
        "anna@gibt-es-nicht.de": ("undeliverable", "no such domain"),
        "x7k2@mailinator.com": ("risky", "disposable"),
    }
    assert sorted(fake.calls("/debounce/v1/")) == [ADDRESS, "info@kunde.de", "max@kunde.de"]
    providers = {address: row.provider for address, row in checks(db).items()}
    assert providers == {
        ADDRESS: "debounce",
        "info@kunde.de": "debounce",
        "max@kunde.de": "debounce",
        "anna@gibt-es-nicht.de": "dns",
        "x7k2@mailinator.com": "dns",
    }


def test_a_rate_limit_is_retried_later_and_a_lasting_failure_ends_unknown(
    db: Database, settings: Settings, fake: FakeVerifiers
) -> None:
    fake.replies[ADDRESS] = Reply(429, {"error": "Too Many Requests"}, headers={"Retry-After": "120"})
    fake.replies["ben@kunde.de"] = Reply(503, b"Service Unavailable")
    add_contacts(db, ADDRESS, "ben@kunde.de")
    settings = with_verifier(settings, fake, "debounce")
    resolver = FakeResolver({"kunde.de": MAIL})
    run(db, settings, resolver)
    rows = contact_rows(db)
    for value, error in (
        (ADDRESS, "debounce: rate limited (HTTP 429)"),
        ("ben@kunde.de", "debounce: HTTP 503"),
    ):
        assert (rows[value].status, rows[value].attempts, rows[value].last_error) == ("pending", 1, error)
        assert utc(rows[value].run_after) > now() + timedelta(seconds=50)
    assert utc(rows[ADDRESS].run_after) > now() + timedelta(seconds=100)  # as the 429 asked

    # Due again, on their last attempt: the failure stands as unknown, and is not cached.
    with db.begin() as connection:
        connection.execute(update(contacts).values(run_after=now() - timedelta(seconds=1)))
    run(db, settings, resolver, stage=replace(validate.STAGE, max_attempts=2))
    assert results(db) == {
        ADDRESS: ("unknown", "debounce: rate limited (HTTP 429)"),
        "ben@kunde.de": ("unknown", "debounce: HTTP 503"),
    }
    assert checks(db) == {}


def test_the_spending_cap_per_run_pauses_the_stage(
    db: Database, settings: Settings, fake: FakeVerifiers
) -> None:
    add_contacts(db, *[f"person{n}@kunde.de" for n in range(5)])
    settings = with_verifier(settings, fake, "zerobounce", email_verifier_calls_per_run=2)
    run(db, settings, FakeResolver({"kunde.de": MAIL}))
    assert len(fake.calls("/zerobounce/v2/validate")) == 2
    assert pauses(db) == {"validate": "verifier spending cap reached (2 calls this run)"}
    rows = contact_rows(db).values()
    assert sorted((row.status, row.attempts, row.validation) for row in rows) == [
        ("done", 1, "deliverable"),
        ("done", 1, "deliverable"),
        ("pending", 0, None),
        ("pending", 0, None),
        ("pending", 0, None),
    ]


def test_one_domain_gets_the_verifier_for_its_first_addresses_only(
    db: Database, settings: Settings, fake: FakeVerifiers
) -> None:
    crowd = [f"person{n}@kunde.de" for n in range(6)]
    add_contacts(db, *crowd)
    add_contacts(db, "anna@andere-firma.de", domain="andere-firma.de")
    settings = with_verifier(settings, fake, "debounce", email_verifier_calls_per_domain=2)
    run(db, settings, FakeResolver({"kunde.de": MAIL, "andere-firma.de": MAIL}))
    assert sorted(fake.calls("/debounce/v1/")) == ["anna@andere-firma.de", *crowd[:2]]
    unasked = "not sent to the verifier: its calls go to the domain's first 2 addresses (cap per domain)"
    assert results(db) == {
        **{address: ("deliverable", None) for address in crowd[:2]},
        **{address: ("deliverable", unasked) for address in crowd[2:]},
        "anna@andere-firma.de": ("deliverable", None),
    }
    assert pauses(db) == {}


def test_the_spending_cap_per_day_is_counted_in_the_database(
    db: Database, settings: Settings, fake: FakeVerifiers
) -> None:
    moment = now()
    earlier = [
        ("a@frueher.de", "debounce", moment - timedelta(days=1)),  # yesterday's calls do not count
        ("b@frueher.de", "dns", moment),  # nor do checks DNS made
        ("c@frueher.de", "zerobounce", moment),  # nor another vendor's calls
        ("d@frueher.de", "debounce", moment),
    ]
    with db.begin() as connection:
        connection.execute(
            insert(email_checks),
            [
                {"address": address, "status": "deliverable", "provider": provider, "checked_at": at}
                for address, provider, at in earlier
            ],
        )
    add_contacts(db, *[f"person{n}@kunde.de" for n in range(4)])
    settings = with_verifier(settings, fake, "debounce", email_verifier_calls_per_day=3)
    resolver = FakeResolver({"kunde.de": MAIL})
    run(db, settings, resolver)
    assert len(fake.calls("/debounce/v1/")) == 2  # one made earlier today, two now
    assert pauses(db) == {"validate": "verifier spending cap reached (3 calls today)"}

    # A new worker, its memory empty, after a person resumed the stage: the database still counts.
    with db.begin() as connection:
        connection.execute(stage_pauses.delete())
    run(db, settings, resolver)
    assert len(fake.calls("/debounce/v1/")) == 2
    assert pauses(db) == {"validate": "verifier spending cap reached (3 calls today)"}
    statuses = sorted(row.status for row in contact_rows(db).values())
    assert statuses == ["done", "done", "pending", "pending"]


def test_a_cached_check_spares_a_second_lookup_and_call(
    db: Database, settings: Settings, fake: FakeVerifiers
) -> None:
    settings = with_verifier(settings, fake, "debounce")
    fake.replies["info@kunde.de"] = debounce_result("info@kunde.de", "4")
    resolver = FakeResolver({"kunde.de": MAIL})
    add_contacts(db, ADDRESS, "info@kunde.de")
    run(db, settings, resolver)
    assert len(fake.requests) == 2 and len(resolver.queries) == 2

    # The same addresses, found again on another site of the business.
    add_contacts(db, "Anna@Kunde.de", "info@kunde.de", domain="filiale.de")
    run(db, settings, resolver)
    assert len(fake.requests) == 2 and len(resolver.queries) == 2
    with db.engine.connect() as connection:
        found = connection.execute(
            select(contacts.c.value, contacts.c.validation, contacts.c.validation_reason)
        ).all()
    assert sorted(found) == [
        ("Anna@Kunde.de", "deliverable", None),
        (ADDRESS, "deliverable", None),
        ("info@kunde.de", "risky", "catch-all; role"),
        ("info@kunde.de", "risky", "catch-all; role"),
    ]
    assert set(checks(db)) == {ADDRESS, "info@kunde.de"}


def test_a_stale_or_unknown_check_is_made_again_and_its_row_updated(
    db: Database, settings: Settings, fake: FakeVerifiers
) -> None:
    earlier = [
        (ADDRESS, "deliverable", None, "zerobounce", now() - timedelta(days=200)),
        ("ben@kunde.de", "unknown", "greylisted", "zerobounce", now()),
        ("carl@kunde.de", "deliverable", None, "dns", now()),
        ("dora@kunde.de", "risky", "catch-all", "zerobounce", now()),
    ]
    names = ("address", "status", "reason", "provider", "checked_at")
    with db.begin() as connection:
        connection.execute(insert(email_checks), [dict(zip(names, row, strict=True)) for row in earlier])
    fake.replies[ADDRESS] = zerobounce_result(ADDRESS, "invalid", "mailbox_not_found")
    add_contacts(db, ADDRESS, "ben@kunde.de", "carl@kunde.de", "dora@kunde.de")
    run(db, with_verifier(settings, fake, "zerobounce"), FakeResolver({"kunde.de": MAIL}))
    # Too old, unknown, and DNS alone while a verifier is chosen now: asked again. The catch-all stands.
    assert sorted(fake.calls("/zerobounce/v2/validate")) == [ADDRESS, "ben@kunde.de", "carl@kunde.de"]
    assert results(db) == {
        ADDRESS: ("undeliverable", "mailbox not found"),
        "ben@kunde.de": ("deliverable", None),
        "carl@kunde.de": ("deliverable", None),
        "dora@kunde.de": ("risky", "catch-all"),
    }
    found = checks(db)
    assert (found[ADDRESS].status, found[ADDRESS].provider) == ("undeliverable", "zerobounce")
    assert utc(found[ADDRESS].checked_at) > now() - timedelta(minutes=5)
    assert (found["carl@kunde.de"].provider, found["ben@kunde.de"].status) == ("zerobounce", "deliverable")


def test_api_keys_stay_out_of_the_logs_and_the_database(
    db: Database, settings: Settings, fake: FakeVerifiers
) -> None:
    root, httpx_logger = logging.getLogger(), logging.getLogger("httpx")
    saved = (root.handlers[:], root.level, httpx_logger.level)
    stream = io.StringIO()
    raw: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            raw.append(record)

    resolver = FakeResolver({"kunde.de": MAIL})
    paused: list[dict[str, str]] = []
    try:
        for vendor in ("debounce", "zerobounce"):
            tuned_settings = with_verifier(
                settings, fake, vendor, log_level="DEBUG", email_verifier_timeout_seconds=0.3
            )
            logs.configure(tuned_settings, stream)
            httpx_logger.setLevel(logging.INFO)  # its request lines carry the key, in the URL
            root.handlers.insert(0, Keep())  # before the redaction filter, which edits the record
            fake.replies[f"ben.{vendor}@kunde.de"] = Reply(503, b"Service Unavailable")
            fake.replies[f"carl.{vendor}@kunde.de"] = Reply(200, {}, delay=1.0)
            add_contacts(db, *[f"{name}.{vendor}@kunde.de" for name in ("anna", "ben", "carl")])
            run(db, tuned_settings, resolver, stage=replace(validate.STAGE, max_attempts=1))
            fake.key = "rotated-key"  # now ours is rejected, and the stage pauses
            add_contacts(db, f"dora.{vendor}@kunde.de")
            run(db, tuned_settings, resolver)
            paused.append(pauses(db))
            with db.begin() as connection:
                connection.execute(stage_pauses.delete())
            fake.key = KEY
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        httpx_logger.setLevel(saved[2])
    text = stream.getvalue()
    assert KEY not in text
    assert "api=[redacted]" in text and "api_key=[redacted]" in text  # httpx did log the URLs
    assert "paused itself" in text
    assert [set(found) for found in paused] == [{"validate"}, {"validate"}]
    assert not [found for found in paused if KEY in found["validate"]]
    assert not [record for record in raw if record.name.startswith("leadpipe") and KEY in record.getMessage()]
    with db.engine.connect() as connection:
        stored = [
            *connection.execute(select(contacts.c.last_error, contacts.c.validation_reason)).all(),
            *connection.execute(select(email_checks.c.reason)).all(),
        ]
    assert not [row for row in stored if any(KEY in (value or "") for value in row)]

"""Paid email verifiers, DeBounce and ZeroBounce, over their public HTTP APIs.

Every answer, an error carried in an HTTP 200 body included, becomes a :class:`Verdict` with one of
the four statuses. Two answers are not about the address but about the account, a rejected API key
and no credits left; they raise :class:`VerifierRefused`, so the stage pauses instead of marking
addresses unknown while nobody can be helped by asking again. An answer that may well be different in
a while (a 429, a 5xx, no answer at all) is a ``transient`` verdict, for the stage to retry later.

These are third-party APIs, not crawled sites: requests go straight through httpx, not through the
crawler's robots.txt and address guard. Both vendors take the API key in the query string; it never
enters a verdict or an error, and the log redaction filter removes it from httpx's request lines.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import SecretStr

from leadpipe.config import Settings
from leadpipe.logs import redact
from leadpipe.web.fetch import parse_retry_after

Status = Literal["deliverable", "undeliverable", "risky", "unknown"]


@dataclass(frozen=True)
class Verdict:
    """What a check says of one address; ``reason`` says why it is not simply deliverable."""

    status: Status
    reason: str | None = None
    transient: bool = False  # asking again later may well give a real answer
    retry_after: float | None = None  # the seconds a 429 asked us to wait


class VerifierRefused(Exception):
    """The vendor refuses the account (a rejected API key, no credits): a person has to act."""


class Verifier(ABC):
    """One vendor's API: its URL, its key, and an HTTP client of its own, closed with the worker."""

    name: ClassVar[str]

    def __init__(self, settings: Settings, key: SecretStr | None, base_url: str) -> None:
        self.base_url = base_url
        self._key = key.get_secret_value() if key else ""
        self._max_retry_after = settings.max_retry_after_seconds
        import httpx  # here, not at the top: most runs have no verifier, and httpx costs a start ~40 ms

        self._client = httpx.AsyncClient(
            timeout=settings.email_verifier_timeout_seconds,
            headers={"User-Agent": settings.user_agent, "Accept": "application/json"},
        )

    async def verify(self, address: str) -> Verdict:
        """The vendor's verdict on ``address``; raises :class:`VerifierRefused` for the account."""
        if not self._key:
            raise VerifierRefused(f"{self.name} has no API key: set LEADPIPE_{self.name.upper()}_API_KEY")
        return await self._verify(address)

    @abstractmethod
    async def _verify(self, address: str) -> Verdict: ...

    async def _get(self, url: str, params: dict[str, str]) -> Any:
        """The JSON body of a 200 answer, or the verdict on any other answer."""
        import httpx

        try:
            response = await self._client.get(url, params=params)
        except httpx.TimeoutException:
            return self._transient("no answer in time")
        except httpx.HTTPError as error:
            return self._transient(self._redact(f"{type(error).__name__}: {error}"))
        status = response.status_code
        if status in (401, 403):
            raise VerifierRefused(f"{self.name} rejected the API key (HTTP {status})")
        if status == 402:
            raise VerifierRefused(f"{self.name} is out of credits (HTTP 402)")
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"), self._max_retry_after)
            return self._transient("rate limited (HTTP 429)", retry_after)
        if status >= 500:
            return self._transient(f"HTTP {status}")
        if status != 200:
            return Verdict("unknown", f"{self.name} answered HTTP {status}")
        try:
            return response.json()
        except ValueError:
            return self._transient("an answer that is not JSON")

    def _transient(self, reason: str, retry_after: float | None = None) -> Verdict:
        return Verdict("unknown", f"{self.name}: {reason}", transient=True, retry_after=retry_after)

    def _redact(self, text: str) -> str:
        return redact(text, [self._key])

    async def aclose(self) -> None:
        await self._client.aclose()


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


class DeBounce(Verifier):
    """DeBounce, ``GET {base}?api=KEY&email=ADDRESS`` (API v1, single validation).

    Relied on: ``success`` ("1", or "0" with ``debounce.error`` in a 200 answer); and in
    ``debounce``, ``code`` (1 syntax, 2 spam trap, 3 disposable, 4 accept-all, 5 deliverable,
    6 invalid, 7 unknown, 8 role), ``role`` ("true"/"false"), and ``result`` ("Safe to Send",
    "Risky", "Invalid", "Unknown") for a code not in that list. Not used: ``free_email`` (a free
    mailbox is common for a small business and no risk), ``send_transactional``, ``reason``,
    ``did_you_mean``, ``balance``.
    """

    name = "debounce"
    CODES: ClassVar[dict[str, Verdict]] = {
        "1": Verdict("undeliverable", "syntax"),
        "2": Verdict("undeliverable", "spam trap"),
        "3": Verdict("risky", "disposable"),
        "4": Verdict("risky", "catch-all"),
        "5": Verdict("deliverable"),
        "6": Verdict("undeliverable", "mailbox does not exist"),
        "7": Verdict("unknown", "the mail server gave no answer"),
        "8": Verdict("risky", "role"),
    }
    RESULTS: ClassVar[dict[str, Status]] = {
        "safe to send": "deliverable",
        "risky": "risky",
        "invalid": "undeliverable",
        "unknown": "unknown",
    }

    async def _verify(self, address: str) -> Verdict:
        body = await self._get(self.base_url, {"api": self._key, "email": address})
        if isinstance(body, Verdict):
            return body
        found = body.get("debounce") if isinstance(body, dict) else None
        if not isinstance(found, dict):
            return self._transient("an answer without a result")
        if _text(body.get("success")) != "1" or "error" in found:
            return self._error(self._redact(_text(found.get("error")) or "no result"))
        code = _text(found.get("code"))
        verdict = self.CODES.get(code)
        if verdict is None:
            status = self.RESULTS.get(_text(found.get("result")).lower(), "unknown")
            return Verdict(status, f"debounce code {code or '?'}")
        if verdict.status == "deliverable" and _text(found.get("role")).lower() == "true":
            return Verdict("risky", "role")
        return verdict

    def _error(self, message: str) -> Verdict:
        """An error in the body of an answer: about the account, the rate, or this one request."""
        lowered = message.lower()
        if "credit" in lowered or "balance" in lowered:
            raise VerifierRefused(f"debounce is out of credits: {message}")
        if "api" in lowered or "key" in lowered:
            raise VerifierRefused(f"debounce rejected the API key: {message}")
        if "limit" in lowered or "too many" in lowered:
            return self._transient(message)
        return Verdict("unknown", f"debounce: {message}")


class ZeroBounce(Verifier):
    """ZeroBounce, ``GET {base}validate?api_key=KEY&email=ADDRESS&ip_address=`` (API v2), and
    ``GET {base}getcredits?api_key=KEY`` to tell a rejected key from an empty account.

    Relied on: ``status`` (valid, invalid, catch-all, unknown, spamtrap, abuse, do_not_mail) and
    ``sub_status`` (say mailbox_not_found, role_based, disposable, greylisted); an ``error`` field in
    a 200 body; ``Credits`` of getcredits ("-1" for a rejected key). Not used: the person and place
    fields (``firstname``, ``city`` …), ``free_email``, ``did_you_mean``, ``mx_found``.
    """

    name = "zerobounce"
    STATUSES: ClassVar[dict[str, Verdict]] = {
        "valid": Verdict("deliverable"),
        "invalid": Verdict("undeliverable", "invalid"),
        "catch-all": Verdict("risky", "catch-all"),
        "unknown": Verdict("unknown", "unknown"),
        "spamtrap": Verdict("undeliverable", "spam trap"),
        "abuse": Verdict("risky", "abuse"),
        "do_not_mail": Verdict("undeliverable", "do not mail"),
    }
    # Addresses ZeroBounce says not to mail that are risky rather than undeliverable for a small
    # business, whose only address is often info@.
    FLAGGED: ClassVar[dict[str, str]] = {
        "role_based": "role",
        "role_based_catch_all": "catch-all; role",
        "disposable": "disposable",
    }

    async def _verify(self, address: str) -> Verdict:
        query = {"api_key": self._key, "email": address, "ip_address": ""}
        body = await self._get(self.base_url + "validate", query)
        if isinstance(body, Verdict):
            return body
        if not isinstance(body, dict):
            return self._transient("an answer without a result")
        if "error" in body or "status" not in body:
            return await self._error(self._redact(_text(body.get("error")) or "no status"))
        status = _text(body["status"]).lower()
        sub_status = _text(body.get("sub_status")).lower()
        if status == "do_not_mail" and sub_status in self.FLAGGED:
            return Verdict("risky", self.FLAGGED[sub_status])
        verdict = self.STATUSES.get(status)
        if verdict is None:
            return Verdict("unknown", f"zerobounce status {status or '?'}")
        if sub_status and status in ("invalid", "unknown", "do_not_mail"):
            return Verdict(verdict.status, sub_status.replace("_", " "))  # says why: mailbox not found …
        return verdict

    async def _error(self, message: str) -> Verdict:
        """ZeroBounce answers "Invalid API Key or your account ran out of credits" to both: its
        credits tell which, and an account that has both makes the error one of this request."""
        credits = await self._get(self.base_url + "getcredits", {"api_key": self._key})
        left = _text(credits.get("Credits")) if isinstance(credits, dict) else ""
        if left == "-1":
            raise VerifierRefused(f"zerobounce rejected the API key: {message}")
        if left == "0":
            raise VerifierRefused(f"zerobounce is out of credits: {message}")
        if left.isdigit():
            return Verdict("unknown", f"zerobounce: {message}")
        # Its credits could not be read either: better a person looks than addresses go unknown.
        raise VerifierRefused(f"zerobounce refused: {message}")


def make_verifier(settings: Settings) -> Verifier | None:
    """The verifier the settings choose (``LEADPIPE_EMAIL_VERIFIER``), or None."""
    if settings.email_verifier == "debounce":
        return DeBounce(settings, settings.debounce_api_key, settings.debounce_url)
    if settings.email_verifier == "zerobounce":
        return ZeroBounce(settings, settings.zerobounce_api_key, settings.zerobounce_url)
    return None

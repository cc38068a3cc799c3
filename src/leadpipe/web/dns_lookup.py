"""DNS for email checks: whether a domain can receive mail, asked with short timeouts.

The validate stage asks through the :class:`Resolver` protocol, so tests hand it a fake and never
touch the network. :class:`DnsResolver` is the real one, dnspython's asynchronous resolver. Every way
DNS can fail to answer (a timeout, failing servers, no resolver configured on the machine) becomes
:class:`DnsUnanswered`, which the stage records as "unknown" rather than retrying: a machine without a
network gets through its addresses at the pace of the timeout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.resolver

from leadpipe.config import Settings


class NoSuchDomain(Exception):
    """The name does not exist (NXDOMAIN)."""


class DnsUnanswered(Exception):
    """DNS gave no answer to trust: a timeout, failing servers, or no resolver configured."""


class Resolver(Protocol):
    async def query(self, name: str, rdtype: str) -> list[str]:
        """The records of ``name`` of type ``rdtype`` ("MX", "A" or "AAAA") as text: MX exchanges
        ("." for a null MX, RFC 7505) or addresses; [] when the name exists without such records.

        Raises :class:`NoSuchDomain` or :class:`DnsUnanswered`.
        """
        ...


class DnsResolver:
    """dnspython's asynchronous resolver with the stage's timeout and an answer cache, so the many
    addresses of one domain cost one lookup."""

    def __init__(
        self, settings: Settings, *, nameservers: Sequence[dns.nameserver.Nameserver] | None = None
    ) -> None:
        self.lifetime = settings.email_dns_timeout_seconds
        self.nameservers = nameservers
        self._resolver: dns.asyncresolver.Resolver | None = None

    def _make(self) -> dns.asyncresolver.Resolver:
        # Made on first use, not at start: reading resolv.conf fails on a machine without one, and
        # that must make addresses unknown, not stop the worker.
        resolver = dns.asyncresolver.Resolver(configure=self.nameservers is None)
        if self.nameservers is not None:
            resolver.nameservers = list(self.nameservers)
        resolver.lifetime = self.lifetime
        resolver.timeout = min(resolver.timeout, self.lifetime)
        resolver.cache = dns.resolver.Cache()
        return resolver

    async def query(self, name: str, rdtype: str) -> list[str]:
        try:
            if self._resolver is None:
                self._resolver = self._make()
            answer = await self._resolver.resolve(name, rdtype, search=False, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            raise NoSuchDomain(name) from None
        except dns.exception.Timeout:
            raise DnsUnanswered("DNS timeout") from None
        except dns.resolver.NoNameservers:
            raise DnsUnanswered("no DNS server answered") from None
        except dns.exception.DNSException as error:
            raise DnsUnanswered(f"DNS: {error}") from None
        if answer.rrset is None:
            return []
        if rdtype == "MX":
            return [
                "." if record.exchange == dns.name.root else record.exchange.to_text(omit_final_dot=True)
                for record in answer.rrset
            ]
        return [record.to_text() for record in answer.rrset]

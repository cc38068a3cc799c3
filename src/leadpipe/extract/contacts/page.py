"""One page's contacts as the extractor finds them: each value once with its surest sighting, and a
bound on how many candidates of each kind are checked."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urldefrag, urlsplit

from leadpipe.extract.contacts.domains import registrable
from leadpipe.extract.contacts.emails import is_system_sender, usable_email
from leadpipe.extract.contacts.phones import parse_phone
from leadpipe.extract.contacts.ranking import email_group
from leadpipe.extract.contacts.results import CONFIDENCE, PLAIN_FORM, Found, PageContacts

# Candidates of one kind a page's extraction checks (per quota: see Page.may_check); enough to rank a
# crowded page's contacts, few enough that a page made of addresses costs little.
COLLECT_PER_KIND = 500


class Page:
    """Collects one page's contacts, each value once, keeping its surest sighting."""

    def __init__(self, url: str, checks_per_kind: int) -> None:
        self.url = url
        self.site = registrable(urlsplit(url).hostname or "")
        self.region: str | None = None
        self.found: dict[tuple[str, str], Found] = {}
        self.checks_per_kind = checks_per_kind
        self.checks: Counter[tuple[str, bool]] = Counter()
        self.unchecked: Counter[str] = Counter()
        # JSON-LD is read before the region is known, so its phone numbers wait for it.
        self.phones_before_region: list[tuple[str, str]] = []
        # A page names its address many times (link, text, JSON); validating is slow, so once each.
        self.checked: dict[str, str | None] = {}

    def add(self, found: Found) -> None:
        key = (found.kind, found.value)
        kept = self.found.get(key)
        if kept is None or found.confidence > kept.confidence:
            self.found[key] = found

    def may_check(self, kind: str, on_site: bool = False) -> bool:
        """Whether another candidate of ``kind`` may be checked; past the bound it is only counted.
        Emails on the page's own site (``on_site``) count against a bound of their own."""
        if self.checks[kind, on_site] < self.checks_per_kind:
            self.checks[kind, on_site] += 1
            return True
        self.unchecked[kind] += 1
        return False

    def _on_site(self, candidate: str) -> bool:
        """Whether an address, as written, is on the page's own site (a guess made before it is read)."""
        domain = candidate.rpartition("@")[2].strip().strip(".").lower()
        return self.site is not None and (domain == self.site or domain.endswith("." + self.site))

    def email(self, candidate: str | None, source: str) -> None:
        candidate = candidate or ""
        if candidate not in self.checked:
            if not self.may_check("email", self._on_site(candidate)):
                return
            self.checked[candidate] = usable_email(candidate)
        address = self.checked[candidate]
        if address:
            flags = ("system",) if is_system_sender(address) else ()
            self.add(Found(address, "email", source, CONFIDENCE[source], flags=flags))

    def phone(self, text: str, source: str) -> None:
        if self.region is None:
            self.phones_before_region.append((text, source))
            return
        if not self.may_check("phone"):
            return
        number = parse_phone(text, self.region)
        if number:
            self.add(Found(number, "phone", source, CONFIDENCE[source]))

    def set_region(self, region: str) -> None:
        """The region national phone numbers are read in; the numbers read before it are read now."""
        self.region = region
        waiting, self.phones_before_region = self.phones_before_region, []
        for text, source in waiting:
            self.phone(text, source)

    def form(self, value: str, source: str) -> None:
        confidence = PLAIN_FORM if source == "form" else CONFIDENCE["link"]
        self.add(Found(urldefrag(value).url, "form", source, confidence))

    def result(self, address: dict[str, str] | None, keep: int | None) -> PageContacts:
        by_kind: dict[str, list[Found]] = {}
        for found in self.found.values():
            by_kind.setdefault(found.kind, []).append(found)
        totals = Counter({kind: len(listed) for kind, listed in by_kind.items()}) + self.unchecked
        for kind, listed in by_kind.items():
            if kind == "email":
                listed.sort(key=lambda item: (email_group(item, self.site), -item.confidence))
            else:
                listed.sort(key=lambda item: -item.confidence)
            if keep is not None:
                del listed[keep:]
        return PageContacts(
            url=self.url,
            emails=by_kind.get("email", []),
            phones=by_kind.get("phone", []),
            whatsapp=by_kind.get("whatsapp", []),
            socials=by_kind.get("social", []),
            contact_forms=by_kind.get("form", []),
            address=address,
            totals=dict(totals),
        )

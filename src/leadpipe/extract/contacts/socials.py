"""Social profiles: which links lead to a business's profile on a network we know, and that profile's
one canonical URL."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

from leadpipe.extract.contacts.domains import split_domain
from leadpipe.extract.website import SOCIAL_NETWORKS

# A link to a profile holds one of these words: a test before the link is parsed.
NETWORK_WORDS = "facebook fb.com instagram linkedin twitter x.com youtube tiktok pinterest".split()
# First path segments that are the network's own pages, or sharing, tracking and single posts.
_RESERVED = {
    "facebook": set(
        "sharer sharer.php share share.php dialog plugins tr policies policy.php help login login.php "
        "privacy legal terms hashtag watch groups events marketplace gaming ads business photo photo.php "
        "photos story.php permalink.php reel reels videos video.php home.php search l.php messages "
        "settings about careers stories media public directory recover fundraisers watchparty".split()
    ),
    "instagram": set(
        "p reel reels tv explore stories accounts about legal developer direct web press".split()
    ),
    "x": set(
        "intent share home search hashtag i explore settings login logout signup privacy tos messages "
        "notifications compose widgets about download jobs en".split()
    ),
    "pinterest": set(
        "pin search ideas _ explore business today categories login settings oauth discover".split()
    ),
}
_POST_SEGMENTS = set("posts photos videos reel reels p tv status statuses video photo".split())
_HANDLE = {
    "facebook": re.compile(r"[\w.\-]{1,80}"),
    "instagram": re.compile(r"[\w.]{1,30}"),
    "x": re.compile(r"\w{1,15}"),
    "pinterest": re.compile(r"\w{3,30}"),
}


def social_profile(url: str) -> tuple[str, str] | None:
    """(network, canonical profile URL) for a link to a profile on a network we know; else None.

    Canonical: https, the network's main host, the profile's root path, no query, no trailing slash,
    lowercased except where the network tells case apart (YouTube channel ids).
    """
    try:
        parts = urlsplit(url.strip() if "//" in url else "https://" + url.strip())
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return None
    if parts.scheme not in ("http", "https", ""):
        return None
    names = split_domain(host)
    network = (
        "pinterest"
        if names.domain == "pinterest"
        else SOCIAL_NETWORKS.get(names.top_domain_under_public_suffix)
    )
    segments = [unquote(segment) for segment in parts.path.split("/") if segment]
    if network is None or not segments:
        return None
    path = _profile_path(network, segments, parts.query)
    host = "x.com" if network == "x" else f"{network}.com"
    return (network, f"https://{host}/{path}") if path else None


def _profile_path(network: str, segments: list[str], query: str) -> str | None:
    first = segments[0].lower()
    second = segments[1].lower() if len(segments) > 1 else ""
    if network == "linkedin":
        return f"{first}/{second}" if first in ("company", "in", "school", "showcase") and second else None
    if network == "youtube":
        if first == "channel" and len(segments) > 1:
            return f"channel/{segments[1]}"  # channel ids are case-sensitive
        if first in ("c", "user") and second:
            return f"{first}/{second}"
        return first if first.startswith("@") and len(first) > 1 else None
    if network == "tiktok":
        return first if first.startswith("@") and len(first) > 1 and not second else None
    if network == "facebook" and first == "profile.php":
        profile_id = (parse_qs(query).get("id") or [""])[0]
        return f"profile.php?id={profile_id}" if profile_id.isdigit() else None
    if network == "facebook" and first == "pages" and second:
        return segments[-1].lower()  # /pages/Name/123 (the id) or /pages/category/Kind/Name
    if network == "facebook" and first == "pg" and second:
        return second
    if first in _RESERVED[network] or second in _POST_SEGMENTS or not _HANDLE[network].fullmatch(first):
        return None
    return first

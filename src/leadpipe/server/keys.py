"""API keys: made by `leadpipe keys create`, shown once, kept only as a hash.

A key is ``lp_`` and 43 characters of a 256-bit random value, so a plain SHA-256 of it is enough to
keep (no salt or slow hash: nothing can be guessed). ``read`` keys may look; ``admin`` keys may also
change things (curation, submissions, searches, pauses, requeues). There is no other way in: no
development token, no setting that turns the check off.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from leadpipe.db.connect import Database, now, utc
from leadpipe.db.models import SCOPES, api_keys

__all__ = ["SCOPES", "Key", "KeyError_", "create", "digest", "find", "listed", "revoke"]

PREFIX = "lp_"


class KeyError_(ValueError):
    """A key that cannot be made or found as asked (a name taken, an unknown scope)."""


@dataclass(frozen=True)
class Key:
    id: int
    name: str
    scope: str

    @property
    def admin(self) -> bool:
        return self.scope == "admin"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create(db: Database, name: str, scope: str) -> str:
    """Make a key; returns it, the only time it is seen."""
    name = name.strip()
    if not name or len(name) > 100:
        raise KeyError_("a key needs a name of 1 to 100 characters")
    if scope not in SCOPES:
        raise KeyError_(f"a key's scope is read or admin, not {scope!r}")
    secret = PREFIX + secrets.token_urlsafe(32)
    row = {
        "name": name,
        "scope": scope,
        "prefix": secret[:10],
        "key_hash": digest(secret),
        "created_at": now(),
    }
    try:
        with db.begin() as connection:
            connection.execute(insert(api_keys).values(row))
    except IntegrityError:
        raise KeyError_(f"a key named {name!r} exists (revoke it, or choose another name)") from None
    return secret


def listed(db: Database) -> list[dict[str, Any]]:
    """Every key, revoked ones too, without anything secret."""
    columns = [
        api_keys.c[name] for name in ("name", "scope", "prefix", "created_at", "last_used_at", "revoked_at")
    ]
    with db.read() as connection:
        return [dict(row) for row in connection.execute(select(*columns).order_by(api_keys.c.id)).mappings()]


def revoke(db: Database, name: str) -> bool:
    """Revoke the key named ``name``; False when there is no such key in use."""
    with db.begin() as connection:
        changed = connection.execute(
            update(api_keys)
            .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now())
        ).rowcount
    return bool(changed)


def find(db: Database, secret: str) -> Key | None:
    """The key in use that ``secret`` is, or None; notes when it was last used."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    hashed = digest(secret)
    with db.read() as connection:
        row = connection.execute(
            select(api_keys.c.id, api_keys.c.name, api_keys.c.scope, api_keys.c.last_used_at).where(
                api_keys.c.key_hash == hashed, api_keys.c.revoked_at.is_(None)
            )
        ).first()
    if row is None:
        return None
    # At most once a minute: a busy client must not make every request a write.
    if row.last_used_at is None or utc(row.last_used_at) < now() - timedelta(minutes=1):
        with db.begin() as connection:
            connection.execute(update(api_keys).where(api_keys.c.id == row.id).values(last_used_at=now()))
    return Key(row.id, row.name, row.scope)

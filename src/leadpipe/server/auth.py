"""Who is asking: an API key in ``Authorization: Bearer`` for the API, a session cookie for the dashboard.

A missing or unknown key is a 401, a read key asking to change something a 403; nothing is answered
without a key (the health checks aside), and no key, cookie or CSRF token is ever logged.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import delete, func, insert, select

from leadpipe.db.connect import Database, now
from leadpipe.db.models import api_keys, dashboard_sessions, sign_in_failures
from leadpipe.server import keys
from leadpipe.server.keys import Key

__all__ = [
    "SESSION_COOKIE",
    "Key",
    "Session",
    "admin",
    "csrf_ok",
    "end_session",
    "reader",
    "session_for",
    "sign_in",
]

SESSION_COOKIE = "leadpipe_session"
SESSION_HOURS = 12
SIGN_IN_WINDOW = timedelta(minutes=15)
SIGN_IN_FAILURES = 10  # failed sign-ins from one address within the window; then it waits

bearer = HTTPBearer(auto_error=False, description="An API key made by `leadpipe keys create`")


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def reader(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Key:
    """Any key in use: it may read."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "an API key is required: Authorization: Bearer <key>", headers=challenge)
    key = keys.find(_db(request), credentials.credentials)
    if key is None:
        raise HTTPException(401, "the API key is not valid (unknown or revoked)", headers=challenge)
    return key


def admin(key: Annotated[Key, Depends(reader)]) -> Key:
    """A key that may change things."""
    if not key.admin:
        raise HTTPException(403, f"the key {key.name!r} may only read: this needs an admin key")
    return key


@dataclass(frozen=True)
class Session:
    key: Key
    csrf_token: str


def sign_in(db: Database, secret: str, address: str) -> str | None:
    """A new session's cookie value for a valid key, or None; refuses with 429 once an address has
    failed too often lately."""
    moment = now()
    with db.read() as connection:
        failures = connection.execute(
            select(func.count()).where(
                sign_in_failures.c.address == address, sign_in_failures.c.at > moment - SIGN_IN_WINDOW
            )
        ).scalar_one()
    if failures >= SIGN_IN_FAILURES:
        minutes = int(SIGN_IN_WINDOW.total_seconds() // 60)
        raise HTTPException(
            429, f"too many failed sign-ins from this address: try again in {minutes} minutes"
        )
    key = keys.find(db, secret.strip())
    with db.begin() as connection:
        if key is None:
            connection.execute(insert(sign_in_failures).values(address=address[:64], at=moment))
            connection.execute(
                delete(sign_in_failures).where(sign_in_failures.c.at < moment - SIGN_IN_WINDOW)
            )
            return None
        token = secrets.token_urlsafe(32)
        connection.execute(
            insert(dashboard_sessions).values(
                token_hash=keys.digest(token),
                key_id=key.id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=moment,
                expires_at=moment + timedelta(hours=SESSION_HOURS),
            )
        )
        connection.execute(delete(dashboard_sessions).where(dashboard_sessions.c.expires_at < moment))
    return token


def session_for(db: Database, cookie: str | None) -> Session | None:
    """The live session a cookie names (its key still in use), or None."""
    if not cookie or len(cookie) > 200:
        return None
    with db.read() as connection:
        row = connection.execute(
            select(api_keys.c.id, api_keys.c.name, api_keys.c.scope, dashboard_sessions.c.csrf_token)
            .join(api_keys, api_keys.c.id == dashboard_sessions.c.key_id)
            .where(
                dashboard_sessions.c.token_hash == keys.digest(cookie),
                dashboard_sessions.c.expires_at > now(),
                api_keys.c.revoked_at.is_(None),
            )
        ).first()
    return None if row is None else Session(Key(row.id, row.name, row.scope), row.csrf_token)


def csrf_ok(session: Session, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(session.csrf_token, token)


def end_session(db: Database, cookie: str | None) -> None:
    if cookie:
        with db.begin() as connection:
            connection.execute(
                delete(dashboard_sessions).where(dashboard_sessions.c.token_hash == keys.digest(cookie))
            )

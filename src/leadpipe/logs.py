"""Logging: plain lines for people or JSON lines for machines, with every credential redacted.

The redaction filter sits on the root handler, so it covers every logger, leadpipe's and its
libraries', whatever they print (a database URL with its password, an API key in a request).
The command line's messages go through the same :func:`redact`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import unquote

from leadpipe.config import Settings

__all__ = ["REDACTED", "configure", "redact", "url_secrets"]

REDACTED = "[redacted]"
# A password in a URL: what follows "scheme://user:" up to the last "@" before a space. Parsers
# disagree on where a password ends in a malformed URL ("/", "?", "@" in it), so this takes the most.
URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]{0,30}://[^\s:]{0,256}:)\S*(?=@)", re.IGNORECASE)
# A credential given as a parameter: in a URL's query, or in a libpq connection string.
SECRET_PARAMETER = re.compile(
    r"(?P<head>(?:^|[?&;\s])(?:[\w.-]*[_.-])?"
    r"(?:password|passwd|pwd|secret|token|api_?key|key|access_token|sslpassword)=)"
    r"(?P<value>'[^']*'|[^&#\s]*)",
    re.IGNORECASE,
)


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with no credential left: each of ``secrets`` (by default, those of the configuration
    logging was set up with), and in every URL or connection string the password and each credential
    parameter, however malformed the URL. The one redaction of logs and messages alike."""
    return (_configured if secrets is None else RedactSecrets(secrets)).redact(text)


def url_secrets(url: str) -> list[str]:
    """The credentials a configured URL holds, as given and percent-decoded, so that they are found
    wherever they appear: its password (from the user name's ":" to the last "@", in a URL that lacks
    its "://" too) and its credential parameters."""
    found = [parameter["value"].strip("'") for parameter in SECRET_PARAMETER.finditer(url)]
    after_scheme = url.split("://", 1)[-1]
    userinfo = re.match(r"[^:]*:(?P<password>.*)@", after_scheme, re.DOTALL)
    if userinfo:
        found.append(userinfo["password"])
    return [form for secret in found for form in {secret, unquote(secret)} if form]


class RedactSecrets(logging.Filter):
    """Redact every credential (see :func:`redact`) from a record's message and traceback."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret containing another is replaced whole; a short one would hit words.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        if "://" in text:
            text = URL_PASSWORD.sub(rf"\g<head>{REDACTED}", text)
        if "=" in text:
            text = SECRET_PARAMETER.sub(rf"\g<head>{REDACTED}", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit the format: a filter must not raise
            message = f"{record.msg} {record.args}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


_configured = RedactSecrets(())  # the configuration's secrets, once configure() has run


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["error"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure(settings: Settings, stream: object = None) -> None:
    """Send every log record to stderr, formatted as the settings ask, secrets redacted."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    if settings.log_format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    global _configured
    proxy = settings.proxy.get_secret_value() if settings.proxy else ""
    _configured = RedactSecrets(
        [*settings.secrets(), *url_secrets(settings.database_url), *url_secrets(proxy)]
    )
    handler.addFilter(_configured)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # Libraries that log every request or migration step at INFO: their news is ours to summarise.
    for chatty in ("alembic", "httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(root.level, logging.WARNING))

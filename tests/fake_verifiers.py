"""DeBounce and ZeroBounce on loopback, speaking their wire formats, for the verifier tests.

One HTTP server plays both vendors: DeBounce under ``/debounce/v1/`` and ZeroBounce under
``/zerobounce/v2/`` (``validate`` and ``getcredits``), so the settings' base URLs point here. Like the
real services it checks the API key and spends a credit per answered address. DeBounce refuses a
wrong key with 401 and an empty account with 402; ZeroBounce answers both with an error in a 200 body,
and tells them apart only through its credits (-1 for a wrong key). Any address can be given a canned
answer instead (a result code, a 200 carrying an error, a 429, a 5xx, a slow answer); every address
without one is deliverable.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# DeBounce's result codes, with the ``result`` and ``reason`` texts it sends along.
DEBOUNCE_CODES = {
    "1": ("Invalid", "Syntax"),
    "2": ("Invalid", "Spam Trap"),
    "3": ("Invalid", "Disposable"),
    "4": ("Risky", "Accept All"),
    "5": ("Safe to Send", "Deliverable"),
    "6": ("Invalid", "Bounce"),
    "7": ("Unknown", "Unknown"),
    "8": ("Risky", "Role"),
}
ZEROBOUNCE_KEY_OR_CREDITS = "Invalid API Key or your account ran out of credits"


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def debounce_result(address: str, code: str, *, role: bool = False, result: str | None = None) -> Reply:
    """A DeBounce answer with a result, every field as the API sends it (strings throughout)."""
    known, reason = DEBOUNCE_CODES.get(code, ("Unknown", "Unknown"))
    body = {
        "debounce": {
            "email": address,
            "code": code,
            "role": "true" if role else "false",
            "free_email": "true" if address.endswith("@gmail.com") else "false",
            "result": result or known,
            "reason": reason,
            "send_transactional": "1" if code == "5" else "0",
            "did_you_mean": "",
        },
        "success": "1",
        "balance": "9990",
    }
    return Reply(200, body)


def debounce_failure(message: str, status: int = 200) -> Reply:
    """A DeBounce error: ``success`` "0" and the message in ``debounce.error``."""
    return Reply(status, {"debounce": {"error": message, "code": "0"}, "success": "0"})


def zerobounce_result(address: str, status: str, sub_status: str = "") -> Reply:
    """A ZeroBounce v2 validate answer, every field as the API sends it."""
    account, _, domain = address.partition("@")
    body = {
        "address": address,
        "status": status,
        "sub_status": sub_status,
        "free_email": domain == "gmail.com",
        "did_you_mean": None,
        "account": account,
        "domain": domain,
        "domain_age_days": "9122",
        "smtp_provider": "",
        "mx_record": f"mx.{domain}",
        "mx_found": "true",
        "firstname": None,
        "lastname": None,
        "gender": None,
        "country": None,
        "region": None,
        "city": None,
        "zipcode": None,
        "processed_at": "2026-12-06 10:00:00.000",
    }
    return Reply(200, body)


def zerobounce_failure(message: str) -> Reply:
    """ZeroBounce's error: a 200 whose body holds only ``error``."""
    return Reply(200, {"error": message})


class FakeVerifiers:
    """Both vendors on one loopback server; ``requests`` logs every (path, query) asked."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.credits = 1000
        self.replies: dict[str, Reply] = {}  # by address, instead of the usual answer
        self.credits_reply: Reply | None = None  # instead of ZeroBounce's count of credits
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def calls(self, path: str) -> list[str]:
        """The addresses asked at ``path`` (say ``/debounce/v1/``), in order."""
        return [query.get("email", "") for asked, query in self.requests if asked == path]

    def answer(self, path: str, query: dict[str, str]) -> Reply:
        if path == "/debounce/v1/":
            return self._debounce(query)
        if path == "/zerobounce/v2/validate":
            return self._zerobounce(query)
        if path == "/zerobounce/v2/getcredits":
            if self.credits_reply is not None:
                return self.credits_reply
            credits = self.credits if query.get("api_key") == self.key else -1
            return Reply(200, {"Credits": str(credits)})
        return Reply(404, b"Not Found")

    def _debounce(self, query: dict[str, str]) -> Reply:
        if query.get("api") != self.key:
            return debounce_failure("Wrong API", status=401)
        if self.credits <= 0:
            return debounce_failure("Credits Low", status=402)
        address = query.get("email", "")
        return self._spend(address) or debounce_result(address, "5")

    def _zerobounce(self, query: dict[str, str]) -> Reply:
        if query.get("api_key") != self.key or self.credits <= 0:
            return zerobounce_failure(ZEROBOUNCE_KEY_OR_CREDITS)
        address = query.get("email", "")
        return self._spend(address) or zerobounce_result(address, "valid")

    def _spend(self, address: str) -> Reply | None:
        self.credits -= 1
        return self.replies.get(address)

    def start(self) -> FakeVerifiers:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                target = urlsplit(self.path)
                query = {
                    name: values[-1]
                    for name, values in parse_qs(target.query, keep_blank_values=True).items()
                }
                fake.requests.append((target.path, query))
                reply = fake.answer(target.path, query)
                if reply.delay:
                    time.sleep(reply.delay)
                raw = isinstance(reply.body, bytes)
                body = reply.body if raw else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "text/html" if raw else "application/json")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll, so stopping takes milliseconds: many tests start a server of their own.
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

"""Configuration, clear errors for a bad database, and secrets kept out of every log line."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from leadpipe import logs
from leadpipe.cli import app
from leadpipe.config import Settings


def test_the_default_database_is_a_sqlite_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEADPIPE_DATABASE_URL", raising=False)
    assert Settings().database_url == "sqlite:///leadpipe.db"
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "leadpipe.db").exists()
    assert "resolve" in result.output


def test_settings_come_from_a_dot_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text('LEADPIPE_LOG_FORMAT=json\nLEADPIPE_CURATION={"scrape": "manual"}\n')
    settings = Settings()
    assert settings.log_format == "json" and settings.curation == {"scrape": "manual"}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgresql://nobody@127.0.0.1:1/none",
            "leadpipe: cannot reach the database at postgresql+psycopg://nobody@127.0.0.1:1/none: ",
        ),
        (
            "mysql://root@localhost/x",
            "leadpipe: unsupported database 'mysql': use sqlite:///file.db or postgresql://",
        ),
        ("not a url", "leadpipe: not a database URL: 'not a url'"),
        ("sqlite://", "leadpipe: an in-memory SQLite database cannot be shared by workers"),
    ],
)
def test_a_bad_database_gives_one_clear_line(url: str, message: str) -> None:
    result = CliRunner().invoke(app, ["status", "--db", url])
    assert result.exit_code == 1
    assert result.output.startswith(message)
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


class WithApiKey(Settings):
    """Settings with the secret of a later integration, held as a SecretStr like theirs will be."""

    verifier_key: SecretStr = SecretStr("KEY-123456")


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_every_configured_secret_is_redacted_from_every_logger(fmt: str) -> None:
    settings = WithApiKey(
        database_url="postgresql://leadpipe:s3cret-pass@db.example/leads",
        log_format=fmt,  # type: ignore[arg-type]
    )
    try:
        stream = io.StringIO()
        logs.configure(settings, stream)
        logging.getLogger("httpx").warning("GET https://api.example/?api_key=%s", "KEY-123456")
        try:
            raise RuntimeError("connect to postgresql://leadpipe:s3cret-pass@db.example failed")
        except RuntimeError:
            logging.getLogger("leadpipe.worker").exception("database down")
    finally:
        logging.getLogger().handlers.clear()
    text = stream.getvalue()
    assert "KEY-123456" not in text and "s3cret-pass" not in text
    assert "api_key=[redacted]" in text and "leadpipe:[redacted]@db.example failed" in text
    if fmt == "json":
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        assert lines[0]["logger"] == "httpx" and lines[0]["level"] == "warning"


SECRET = "hunter2-s3cret"


def invoke(command: list[str], url: str, fmt: str) -> Result:
    env = {"LEADPIPE_DATABASE_URL": url, "LEADPIPE_LOG_FORMAT": fmt, "LEADPIPE_LOG_LEVEL": "DEBUG"}
    try:
        return CliRunner().invoke(app, command, env=env)
    finally:
        logging.getLogger().handlers.clear()


@pytest.mark.parametrize("fmt", ["plain", "json"])
@pytest.mark.parametrize("command", [["status"], ["db", "upgrade"]])
def test_a_password_given_as_a_query_parameter_is_never_printed(
    postgres_url: str, command: list[str], fmt: str
) -> None:
    reachable = f"{postgres_url}?password={SECRET}"
    result = invoke(command, reachable, fmt)
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    if command == ["db", "upgrade"]:
        assert "?password=[redacted]" in result.output

    missing = make_url(postgres_url).set(database="leadpipe_no_such_database").render_as_string(False)
    result = invoke(command, f"{missing}?sslmode=disable&password={SECRET}", fmt)
    assert result.exit_code == 1
    assert result.output.startswith("leadpipe: cannot reach the database at postgresql+psycopg://")
    assert "password=[redacted]" in result.output and SECRET not in result.output


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://user:{SECRET}@[::1/leads",  # no closing bracket
        f"postgresql://user:{SECRET}@127.0.0.1:notaport/leads",
        f"postgresql//user:{SECRET}@127.0.0.1:1/leads",  # no "://"
        f"postgresql://user@127.0.0.1:1/leads?sslpassword={SECRET}&port=x",
        f"postgresql://user:with space {SECRET}@127.0.0.1:1/leads",
    ],
)
@pytest.mark.parametrize("command", [["status"], ["db", "upgrade"]])
def test_a_malformed_database_url_is_never_echoed_whole(url: str, command: list[str]) -> None:
    result = invoke(command, url, "json")
    assert result.exit_code == 1
    assert result.output.startswith("leadpipe: ")
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert SECRET not in result.output


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("at postgresql://u@db/x?password=pw1", "at postgresql://u@db/x?password=[redacted]"),
        ("postgresql://u:p@ss/w@db/x failed", "postgresql://u:[redacted]@db/x failed"),
        ("via http://bob:pw2@10.0.0.1:3128 refused", "via http://bob:[redacted]@10.0.0.1:3128 refused"),
        (
            "GET https://api.example/v1?email=a@b.example&api_key=k1&apiKey=k2&access_token=t&key=k3",
            "GET https://api.example/v1?email=a@b.example&api_key=[redacted]&apiKey=[redacted]"
            "&access_token=[redacted]&key=[redacted]",
        ),
        (
            "?PWD=a&passwd=b&client_secret=c&token=d",
            "?PWD=[redacted]&passwd=[redacted]&client_secret=[redacted]&token=[redacted]",
        ),
        ("host=db password='a b' user=u", "host=db password=[redacted] user=u"),
        ("https://medium.com/@someone and mailto:info@example.com", None),
        ("https://example.com/?monkey=1&keyword=2", None),
    ],
)
def test_every_credential_of_every_url_is_redacted(text: str, redacted: str | None) -> None:
    assert logs.redact(text, []) == (redacted or text)


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_the_database_url_s_credentials_are_redacted_from_every_log_line(fmt: str) -> None:
    settings = Settings(
        database_url=f"postgresql://leadpipe:with space {SECRET}@db.example/leads?sslpassword=ssl-{SECRET}",
        log_format=fmt,  # type: ignore[arg-type]
    )
    try:
        stream = io.StringIO()
        logs.configure(settings, stream)
        logging.getLogger("psycopg").warning("connecting with %s", settings.database_url)
        try:
            raise RuntimeError(f"sslpassword ssl-{SECRET} refused; proxy http://u:{SECRET}@10.0.0.1 down")
        except RuntimeError:
            logging.getLogger("leadpipe.worker").exception("database down")
    finally:
        logging.getLogger().handlers.clear()
    text = stream.getvalue()
    assert SECRET not in text
    assert "postgresql://leadpipe:[redacted]@db.example/leads?sslpassword=[redacted]" in text
    if fmt == "json":
        lines = [json.loads(line) for line in text.splitlines()]
        assert [line["logger"] for line in lines] == ["psycopg", "leadpipe.worker"]
        assert "proxy http://u:[redacted]@10.0.0.1 down" in lines[1]["error"]


def test_a_log_call_whose_arguments_do_not_fit_is_still_logged_redacted() -> None:
    try:
        stream = io.StringIO()
        logs.configure(Settings(), stream)
        logging.getLogger("somelib").warning("connecting to %s as %s", f"postgresql://u:{SECRET}@db/x")
    finally:
        logging.getLogger().handlers.clear()
    assert "connecting to %s as %s" in stream.getvalue() and SECRET not in stream.getvalue()

"""Configuration, clear errors for a bad database, and secrets kept out of every log line."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

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

"""``leadpipe sitemaps`` against sites on loopback (reached through the proxy setting): it waits out
what a site asks for within --max-wait, and never reports a site it could not read as empty."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadpipe import intake
from leadpipe.cli import app
from leadpipe.cli.sitemaps import target
from leadpipe.demo.web import Web
from leadpipe.web.handover import ENTRY_MAX_BYTES

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
URLSET = f"<urlset {NS}><url><loc>http://sonne.test/kontakt</loc></url></urlset>"


@pytest.fixture
def runner(web: Web, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("LEADPIPE_PROXY", web.url)
    monkeypatch.setenv("LEADPIPE_HTTP_TOTAL_TIMEOUT_SECONDS", "1")
    return CliRunner()


def test_a_retry_after_within_max_wait_is_waited_out(web: Web, runner: CliRunner) -> None:
    web.add_first("sonne.test", "/sitemap.xml", b"slow down", status=429, headers={"Retry-After": "1"})
    web.add_xml("sonne.test", "/sitemap.xml", URLSET)
    result = runner.invoke(app, ["sitemaps", "sonne.test"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].strip() == "http://sonne.test/kontakt"
    assert result.stderr.strip() == "1 sitemap files, 1 page URLs"
    # The 429, then discovery's read, which hands the small file on to the reading.
    assert web.requests_to("sonne.test").count("/sitemap.xml") == 2


def test_a_wait_past_max_wait_exits_3_naming_the_file_the_answer_and_the_wait(
    web: Web, runner: CliRunner
) -> None:
    web.add("busy.test", "/sitemap.xml", b"slow down", status=429, headers={"Retry-After": "600"})
    result = runner.invoke(app, ["sitemaps", "http://busy.test/sitemap.xml"])
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "leadpipe: rate limited by the site: 429 on http://busy.test/sitemap.xml (Retry-After: 600s); "
        "waiting 600s more would pass --max-wait (30s, 0s waited): try again later"
    ]
    web.add_first("busy.test", "/sitemap.xml", b"busy", status=503, headers={"Retry-After": "1"})
    result = runner.invoke(app, ["sitemaps", "http://busy.test/sitemap.xml", "--max-wait", "1.5"])
    assert result.exit_code == 3
    assert "waiting 600s more would pass --max-wait (1.5s, 1s waited)" in result.stderr
    web.add("eager.test", "/sitemap.xml", b"slow down", status=429, headers={"Retry-After": "0"})
    result = runner.invoke(app, ["sitemaps", "http://eager.test/sitemap.xml", "--max-wait", "1"])
    assert result.exit_code == 3  # a site asking for no wait at all still gets its retries counted
    assert "(Retry-After: 0s); waiting 1s more would pass --max-wait (1s, 1s waited)" in result.stderr


def test_a_sitemap_that_stops_answering_fails_the_command_in_one_line(web: Web, runner: CliRunner) -> None:
    web.add("slow.test", "/robots.txt", b"Sitemap: /sitemap.xml\n", content_type="text/plain")
    # Discovery's look at it is cut short (too big to hand on); the reading finds it stalled.
    web.add_first("slow.test", "/sitemap.xml", URLSET.encode() + b" " * ENTRY_MAX_BYTES)
    web.add("slow.test", "/sitemap.xml", hang=True)
    result = runner.invoke(app, ["sitemaps", "slow.test"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "leadpipe: no complete answer from http://slow.test/sitemap.xml within 1s"
    ]


def test_a_site_answering_404_everywhere_is_reported_empty(web: Web, runner: CliRunner) -> None:
    result = runner.invoke(app, ["sitemaps", "empty.test"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == "0 sitemap files, 0 page URLs"


def test_a_name_is_read_as_intake_reads_it(web: Web, runner: CliRunner) -> None:
    web.add_xml("sonne.test", "/sitemap.xml", URLSET)
    result = runner.invoke(app, ["sitemaps", "WWW.Sonne.TEST/"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "  http://sonne.test/kontakt"
    assert web.requests_to("www.sonne.test") == []  # the domain, as intake records it


ARGUMENTS = [
    "WWW.Sonne.TEST/",
    "https://www.sonne.test/sitemap_index.xml?lang=de",
    "http://127.0.0.1:8080/",
    "co.uk",
    "https://www.facebook.com/sonne",
    "exa mple.de",
]


def test_the_argument_and_the_same_line_of_a_domain_list_agree(runner: CliRunner, tmp_path: Path) -> None:
    listed = tmp_path / "domains.txt"
    listed.write_text("\n".join(ARGUMENTS) + "\n", encoding="utf-8")
    added = intake.Added()
    records = list(intake.read(listed).rows(added, allow_private=True))
    assert [(record["name"], record["sitemap_hint"]) for record in records] == [
        ("sonne.test", None),
        ("sonne.test", "https://www.sonne.test/sitemap_index.xml?lang=de"),
        ("127.0.0.1", None),
    ]
    assert [target(argument) for argument in ARGUMENTS[:3]] == [
        ("sonne.test", None),
        ("sonne.test", "https://www.sonne.test/sitemap_index.xml?lang=de"),
        ("127.0.0.1:8080", None),  # the port is kept, to reach the site where it was named
    ]
    reasons = []
    for argument in ARGUMENTS[3:]:
        result = runner.invoke(app, ["sitemaps", argument])
        assert result.exit_code == 1 and result.stdout == ""
        reasons.append(result.stderr.strip().removeprefix("leadpipe: "))
    assert added.skipped == [f"line {number}: {reason}" for number, reason in enumerate(reasons, start=4)]

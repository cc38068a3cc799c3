"""The dashboard in a real browser (Playwright driving the system Chromium) against `leadpipe serve`
and the sample sites on loopback: sign in, submit domains, watch them reach contacts, select and
reject pages, export. Each step's screenshot is saved in ``artifacts/screenshots``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.demo.sites import known_contacts, sample_sites, serve
from leadpipe.demo.web import Web
from leadpipe.server import keys

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = Settings().chromium_path
SITES = sample_sites(6)

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"no Chromium at {CHROMIUM}: install Debian's (apt-get install chromium), as .ci/run does",
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, Database]]:
    web = Web().start()
    serve(web, SITES)
    url = f"sqlite:///{tmp_path / 'leadpipe.db'}"
    db = Database(url)
    db.upgrade()
    key = keys.create(db, "browser", "admin")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "LEADPIPE_DATABASE_URL": url,
        "LEADPIPE_PROXY": web.url,
        "LEADPIPE_HTTP_PER_HOST": "4",
        "LEADPIPE_EMAIL_DNS_CHECKS": "false",
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "leadpipe", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        yield base, key, db
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        db.dispose()
        web.stop()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_sign_in_submit_watch_contacts_curate_and_export(
    server: tuple[str, str, Database], tmp_path: Path
) -> None:
    base, key, _ = server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(accept_downloads=True)
        page.goto(base + "/")
        assert page.url.endswith("/sign-in")
        page.fill("input[name=key]", "lp_wrong")
        page.click("button[type=submit]")
        assert "not valid" in page.inner_text("[role=alert]")
        page.fill("input[name=key]", key)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")
        shot(page, "1-pipeline-empty")

        page.goto(base + "/submit")
        page.fill("textarea[name=domains]", "\n".join(site.domain for site in SITES) + "\nbad..name\n")
        page.click("text=Submit >> nth=-1")
        report = page.inner_text("[role=status]")
        assert f"{len(SITES)} new" in report and "bad..name" in report
        shot(page, "2-submitted")

        deadline = time.monotonic() + 90
        expected = {value for _, kind, value in known_contacts(SITES) if kind == "email"}
        found: set[str] = set()
        while time.monotonic() < deadline and not expected <= found:
            page.goto(base + "/browse/contacts?where=kind%3Demail")
            found = {cell.strip() for cell in page.locator("td").all_inner_texts()}
            time.sleep(0.5)
        assert expected <= found, sorted(expected - found)
        shot(page, "3-contacts")
        page.goto(base + "/")
        shot(page, "4-pipeline-working")

        page.goto(base + "/browse/pages?where=status%3Dawaiting")
        waiting = page.locator("input[name=ids]")
        assert waiting.count() >= 2, "no pages await a person: the curation policy changed?"
        first, second = waiting.nth(0).get_attribute("value"), waiting.nth(1).get_attribute("value")
        waiting.nth(0).check()
        page.click("button:has-text('Select')")
        page.goto(base + f"/browse/pages?where=id%3D{second}")
        page.locator("input[name=ids]").first.check()
        page.click("button:has-text('Reject')")
        page.goto(base + f"/browse/pages?where=id%3D{second}")
        assert "skipped" in page.inner_text("tbody")
        page.goto(base + f"/browse/pages?where=id%3D{first}")
        assert "selected" in page.inner_text("tbody")
        shot(page, "5-curated")

        page.goto(base + "/browse/contacts")
        with page.expect_download() as download:
            page.click("text=Export CSV")
        saved = tmp_path / "contacts.csv"
        download.value.save_as(saved)
        assert all(address in saved.read_text(encoding="utf-8") for address in expected)
        page.goto(base + "/dead")
        shot(page, "6-dead-items")
        browser.close()

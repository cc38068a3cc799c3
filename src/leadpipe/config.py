"""Settings: environment variables (``LEADPIPE_*``) and an optional ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from leadpipe import __version__

__all__ = ["Policy", "Settings", "get_settings"]

Policy = Literal["auto", "manual"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADPIPE_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///leadpipe.db",
        description="sqlite:///path.db (the default, in the working directory) or postgresql://user@host/db",
    )
    pipeline: str = Field(
        default="leadpipe.stages:PIPELINE",
        description="module:attribute of the stage graph the workers run",
    )
    curation: dict[str, Policy | dict[str, Policy]] = Field(
        default_factory=dict,
        description=(
            "Per stage, whether new items go forward on their own ('auto') or wait for a person "
            "('manual'); either one policy for the stage or one per category, '*' for the rest. "
            'JSON, e.g. {"scrape": {"contact": "auto", "*": "manual"}}'
        ),
    )
    log_format: Literal["plain", "json"] = "plain"
    log_level: str = "INFO"
    heartbeat_seconds: float = Field(default=5.0, gt=0, description="how often a worker says it is alive")
    worker_ttl_seconds: float = Field(
        default=30.0, gt=0, description="a worker unheard of for this long is no longer live"
    )
    poll_seconds: float = Field(
        default=1.0, gt=0, description="idle wait between claims when a stage is empty"
    )
    stall_seconds: float = Field(
        default=300.0,
        gt=0,
        description="a served stage with eligible work older than this and no recent completion is stalled",
    )
    shutdown_grace_seconds: float = Field(
        default=30.0, ge=0, description="on SIGTERM/SIGINT, how long in-flight items may still finish"
    )

    # Web fetching (one module, every stage): politeness, limits, and where leadpipe may connect.
    user_agent: str = Field(
        default=f"leadpipe/{__version__} (+https://pypi.org/project/leadpipe/)",
        description="the User-Agent sent, and the agent robots.txt rules are read for",
    )
    proxy: SecretStr | None = Field(
        default=None,
        description="proxy URL for every request (HTTP_PROXY/HTTPS_PROXY/NO_PROXY are honoured too)",
    )
    allow_private_networks: bool = Field(
        default=False,
        description="allow targets that resolve to private, loopback or link-local addresses",
    )
    http_concurrency: int = Field(default=64, ge=1, description="requests in flight at once, all hosts")
    http_per_host: int = Field(default=2, ge=1, description="requests in flight at once to one host")
    http_host_delay_seconds: float = Field(
        default=0.0, ge=0, description="pause between requests to one host"
    )
    http_connect_timeout_seconds: float = Field(default=10.0, gt=0)
    http_read_timeout_seconds: float = Field(default=20.0, gt=0)
    http_total_timeout_seconds: float = Field(
        default=60.0, gt=0, description="deadline for one whole response"
    )
    http_max_redirects: int = Field(default=5, ge=0)
    http_busy_retry_seconds: float = Field(
        default=300.0,
        ge=0,
        description="after a 429 or 5xx without Retry-After, how long before the item is tried again",
    )
    obey_robots: bool = Field(default=True, description="obey robots.txt for the user agent")
    max_retry_after_seconds: float = Field(
        default=86400.0,
        gt=0,
        description="the longest an item waits for its retry: a longer Retry-After is cut to this",
    )

    # Sitemaps: per-file caps from the protocol, per-domain budgets so no site can take the pipeline.
    sitemap_max_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1024, description="decompressed bytes per sitemap"
    )
    sitemap_max_urls: int = Field(default=50_000, ge=1, description="URLs per sitemap file")
    sitemap_max_depth: int = Field(default=10, ge=1, description="levels of sitemap indexes followed")
    sitemap_max_files: int = Field(default=500, ge=1, description="sitemap files per domain")
    domain_max_pages: int = Field(default=200_000, ge=1, description="pages imported per domain")
    discover_seconds: float = Field(default=120.0, gt=0, description="time to discover one domain's sitemaps")
    sitemaps_max_wait_seconds: float = Field(
        default=30.0,
        ge=0,
        description="how long `leadpipe sitemaps` waits in all for sites that ask it to (Retry-After)",
    )

    # Scraping pages for contacts.
    default_region: str = Field(
        default="US",
        min_length=2,
        max_length=2,
        description="phone region when neither business nor domain tells",
    )
    scrape_max_pages: int = Field(
        default=12, ge=1, description="pages scraped per domain, the home page aside"
    )
    scrape_stop_when_found: bool = Field(
        default=True, description="stop scraping a domain once it has a sure email and a sure phone"
    )
    contacts_max_per_page: int = Field(
        default=50,
        ge=1,
        description="contacts of one kind (emails, phones …) kept from one page, the best first",
    )
    contacts_max_per_domain: int = Field(
        default=200, ge=1, description="contacts of one kind kept for one domain, across its pages"
    )
    render_js: bool = Field(
        default=False,
        description="render a page that is an empty script shell in headless Chromium, and read that",
    )
    chromium_path: str = Field(
        default="/usr/bin/chromium", description="the Chromium the renderer starts (never a downloaded one)"
    )
    render_timeout_seconds: float = Field(
        default=20.0, gt=0, description="time to load and render one page, its scripts' requests included"
    )
    render_max_pages: int = Field(
        default=4, ge=1, description="pages one worker's browser renders at once; the rest wait their turn"
    )

    # Validating emails: DNS with short timeouts, an optional paid verifier, its spending caps.
    email_dns_checks: bool = Field(
        default=True, description="look up each address's mail servers (MX, else A/AAAA)"
    )
    email_dns_timeout_seconds: float = Field(
        default=3.0, gt=0, description="DNS time for one address; past it, the address is unknown"
    )
    email_verifier: Literal["none", "debounce", "zerobounce"] = Field(
        default="none", description="a paid verifier asked after DNS, whose answers are final"
    )
    debounce_api_key: SecretStr | None = None
    zerobounce_api_key: SecretStr | None = None
    debounce_url: str = "https://api.debounce.io/v1/"
    zerobounce_url: str = "https://api.zerobounce.net/v2/"
    email_verifier_timeout_seconds: float = Field(default=30.0, gt=0)
    email_verifier_calls_per_run: int = Field(
        default=1000, ge=0, description="verifier calls one worker makes before pausing the stage"
    )
    email_verifier_calls_per_day: int = Field(
        default=5000, ge=0, description="verifier calls all workers make in a UTC day before pausing"
    )
    email_verifier_calls_per_domain: int = Field(
        default=20, ge=0, description="a domain's addresses sent to the verifier, its first (best) ones"
    )
    email_check_max_age_days: float = Field(
        default=90.0, gt=0, description="how long an address's check stands before it is made again"
    )

    # Finding businesses: Google Places API (New), its costs capped.
    google_places_api_key: SecretStr | None = Field(
        default=None, description="a Google Cloud API key with Places API (New) enabled"
    )
    places_base_url: str = Field(
        default="https://places.googleapis.com", description="where the Places API answers (a fake, in tests)"
    )
    places_timeout_seconds: float = Field(default=30.0, gt=0, description="time for one Places API answer")
    places_max_requests: int = Field(
        default=500, ge=0, description="Places API requests one search may make; then the stage pauses"
    )
    places_max_requests_per_day: int = Field(
        default=2000,
        ge=0,
        description="Places API requests all searches make in a UTC day; then the stage pauses",
    )
    places_cell_km: float = Field(
        default=5.0,
        gt=0,
        description="the side of a search's first cells: an area is cut into a grid of these",
    )
    places_min_cell_km: float = Field(
        default=0.25, gt=0, description="a full cell this small is not split again, and is reported saturated"
    )

    # Alerts that push (the notifier of `leadpipe serve` and `leadpipe worker`).
    alert_webhook_url: SecretStr | None = Field(
        default=None, description="post each incident, and its end, to this URL (off when unset)"
    )
    alert_webhook_secret: SecretStr | None = Field(
        default=None, description="whsec_… : sign the posts as Standard Webhooks does"
    )
    alert_check_seconds: float = Field(default=15.0, gt=0, description="how often the notifier looks")

    def secrets(self) -> list[str]:
        """Every secret value this configuration holds, for the redaction of logs and messages (which
        finds the credentials in the database and proxy URLs itself: ``logs.url_secrets``)."""
        values: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.append(value.get_secret_value())
        return values


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

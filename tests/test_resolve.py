"""Business → domain: the website normaliser and the resolve stage of the real pipeline."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.db.models import businesses, domains
from leadpipe.extract.website import normalise
from leadpipe.stages import PIPELINE
from tests.helpers import run_until_idle


@pytest.mark.parametrize(
    ("value", "domain"),
    [
        ("https://www.acme.com/", "acme.com"),
        ("acme.com", "acme.com"),
        ("  HTTP://WWW.Acme.COM/contact?x=1  ", "acme.com"),
        ("shop.acme.co.uk", "acme.co.uk"),
        ("https://www.bäckerei-müller.de", "bäckerei-müller.de"),
        ("http://xn--bckerei-mller-bfb28a.de/", "bäckerei-müller.de"),
        ("https://www.google.com/url?q=https://www.dentist.fr/&sa=U", "dentist.fr"),
        ("//cdn.acme.com.au/x", "acme.com.au"),
        ("joes-pizza.myshopify.com", "joes-pizza.myshopify.com"),
        ("www.studio.com.br", "studio.com.br"),
        ("kanzlei.example.test", "example.test"),
        ("127.0.0.1", "127.0.0.1"),
    ],
)
def test_websites_become_registrable_domains(value: str, domain: str) -> None:
    assert normalise(value).domain == domain


@pytest.mark.parametrize(
    ("value", "network"),
    [
        ("https://www.facebook.com/joespizza", "facebook"),
        ("instagram.com/joes", "instagram"),
        ("https://linktr.ee/joes", "linktree"),
        ("https://m.yelp.com/biz/joes", "yelp"),
    ],
)
def test_profiles_elsewhere_are_not_the_business_s_domain(value: str, network: str) -> None:
    site = normalise(value)
    assert site.domain is None and site.profile_network == network


@pytest.mark.parametrize("value", [None, "", "   ", "n/a", "not a website at all"])
def test_no_usable_website_is_a_problem_not_an_exception(value: str | None) -> None:
    site = normalise(value)
    assert site.domain is None and site.problem


def test_resolve_links_businesses_sharing_a_website_to_one_domain(db: Database, settings: Settings) -> None:
    with db.begin() as connection:
        connection.execute(
            insert(businesses),
            [
                {"name": "Acme Main St", "website": "https://www.acme.com/main", "country": "US"},
                {"name": "Acme Airport", "website": "http://acme.com/airport", "country": "US"},
                {"name": "Joe's", "website": "https://facebook.com/joes", "country": "US"},
                {"name": "No site", "website": None, "country": "US"},
            ],
        )
    run_until_idle(db, settings, PIPELINE)
    with db.engine.connect() as connection:
        found = {
            row.name: (row.status, row.outcome, row.domain_id)
            for row in connection.execute(select(businesses))
        }
        (acme,) = connection.execute(select(domains)).all()
    assert acme.name == "acme.com" and acme.country == "US" and acme.status == "pending"
    assert found == {
        "Acme Main St": ("done", "domain", acme.id),
        "Acme Airport": ("done", "domain", acme.id),
        "Joe's": ("done", "website_is_facebook_profile", None),
        "No site": ("done", "no_website", None),
    }

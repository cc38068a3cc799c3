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
        # More countries, and the shapes listings and spreadsheets give websites in.
        ("https://www.boulangerie-dupont.fr/accueil.html", "boulangerie-dupont.fr"),
        ("http://restaurante-casa-pepe.es/", "restaurante-casa-pepe.es"),
        ("www.pizzeria-da-mario.it/menu", "pizzeria-da-mario.it"),
        ("https://tandarts-jansen.nl", "tandarts-jansen.nl"),
        ("https://www.schreinerei-huber.at/", "schreinerei-huber.at"),
        ("zahnarzt-zuerich.ch", "zahnarzt-zuerich.ch"),
        ("https://www.plumber-sydney.com.au/services", "plumber-sydney.com.au"),
        ("www.dentist-auckland.co.nz", "dentist-auckland.co.nz"),
        ("https://www.clinica-sorriso.com.br/", "clinica-sorriso.com.br"),
        ("https://taqueria-el-sol.com.mx", "taqueria-el-sol.com.mx"),
        ("http://www.sushi-tanaka.co.jp/", "sushi-tanaka.co.jp"),
        ("https://www.cafe-seoul.co.kr", "cafe-seoul.co.kr"),
        ("https://www.hotel-mumbai.co.in/rooms", "hotel-mumbai.co.in"),
        ("https://www.bistro-cape-town.co.za", "bistro-cape-town.co.za"),
        ("https://www.kancelaria-nowak.pl/kontakt", "kancelaria-nowak.pl"),
        ("https://www.autoservis-novak.cz", "autoservis-novak.cz"),
        ("https://frisor-oslo.no/", "frisor-oslo.no"),
        ("https://www.bageri-stockholm.se", "bageri-stockholm.se"),
        ("https://www.kahvila-helsinki.fi", "kahvila-helsinki.fi"),
        ("https://www.taverna-athina.gr", "taverna-athina.gr"),
        ("https://www.lokanta-istanbul.com.tr", "lokanta-istanbul.com.tr"),
        ("https://blog.acme.co.uk/news/2024", "acme.co.uk"),
        ("HTTPS://WWW.EXAMPLE-SHOP.DE/", "example-shop.de"),
        ("www.example-shop.de.", "example-shop.de"),
        ("https://www.example-shop.de:8443/x", "example-shop.de"),
        ("https://user:pw@www.example-shop.de/", "example-shop.de"),
        ("example-shop.de/?utm_source=google", "example-shop.de"),
        ("<https://www.example-shop.de>", "example-shop.de"),
        ('"www.example-shop.de"', "example-shop.de"),
        ("https://www.münchner-brauhaus.de", "münchner-brauhaus.de"),
        ("https://xn--mnchner-brauhaus-jzb.de", "münchner-brauhaus.de"),
        ("https://www.café-paris.fr/", "café-paris.fr"),
        ("https://joes-bikes.square.site/", "joes-bikes.square.site"),
        ("https://studio-lena.wixsite.com/yoga", "studio-lena.wixsite.com"),
        ("https://tischlerei.jimdosite.com", "tischlerei.jimdosite.com"),
        ("https://florist-anna.webflow.io", "florist-anna.webflow.io"),
        ("https://bakery.github.io/", "bakery.github.io"),
        ("https://www.malerbetrieb-klein.weebly.com", "malerbetrieb-klein.weebly.com"),
        ("https://baeckerei.godaddysites.com/", "baeckerei.godaddysites.com"),
        ("https://www.google.com/url?url=https://www.dentist.it/&sa=t", "dentist.it"),
        ("http://google.de/url?q=http://www.schreiner.de/kontakt&sa=U", "schreiner.de"),
        ("https://www.acme.com#contact", "acme.com"),
        ("acme.com/contact us", "acme.com"),
        ("https://m.acme.com/", "acme.com"),
        ("shop.acme.com", "acme.com"),
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
        ("https://www.tripadvisor.com/Restaurant_Review-g1", "tripadvisor"),
        ("https://business.google.com/joes", "google"),
        ("https://g.page/joes-pizza", "google"),
        ("https://joes-pizza.business.site/", "google"),
        ("https://wa.me/4930123456", "whatsapp"),
        ("https://www.linkedin.com/company/joes", "linkedin"),
        ("https://twitter.com/joes", "x"),
    ],
)
def test_profiles_elsewhere_are_not_the_business_s_domain(value: str, network: str) -> None:
    site = normalise(value)
    assert site.domain is None and site.profile_network == network


@pytest.mark.parametrize(
    ("value", "domain"), [("kanzlei.example.test", "example.test"), ("127.0.0.1", "127.0.0.1")]
)
def test_private_names_and_addresses_are_websites_only_where_private_networks_are_allowed(
    value: str, domain: str
) -> None:
    assert normalise(value).domain is None
    assert normalise(value, allow_private=True).domain == domain


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


@pytest.mark.parametrize("allowed", [False, True])
def test_the_resolve_stage_takes_private_websites_only_where_private_networks_are_allowed(
    db: Database, settings: Settings, allowed: bool
) -> None:
    with db.begin() as connection:
        connection.execute(insert(businesses), [{"name": "Intranet shop", "website": "http://shop.test/"}])
    run_until_idle(db, settings.model_copy(update={"allow_private_networks": allowed}), PIPELINE)
    with db.engine.connect() as connection:
        business = connection.execute(select(businesses)).one()
        names = list(connection.execute(select(domains.c.name)).scalars())
    assert (business.outcome, names) == (("domain", ["shop.test"]) if allowed else ("no_website", []))

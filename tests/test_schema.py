"""The schema: migrations from empty give the models' schema, on both databases; natural keys hold."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect
from sqlalchemy.exc import IntegrityError

from leadpipe.db.connect import SCHEMA_HEAD, Database
from leadpipe.db.models import NATURAL_KEYS, WORK_TABLES, contacts, domains, metadata
from tests.helpers import fresh_postgres


def test_migrations_from_empty_give_the_models_schema(db: Database) -> None:
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
    assert db.schema_revision() == db.head_revision()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database with nothing in it, as a first command finds it."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'new.db'}")
        yield database
        database.dispose()
        return
    with fresh_postgres() as url:
        database = Database(url)
        yield database
        database.dispose()


def test_the_schema_head_named_in_code_is_the_newest_migration(db: Database) -> None:
    assert db.head_revision() == SCHEMA_HEAD


def test_an_empty_database_made_by_many_starting_workers_is_the_migrations_schema(empty_db: Database) -> None:
    """Four processes' first commands at once make one schema: the models' in one go, which Alembic
    takes as its newest revision and migrates down and up from; one that is behind is upgraded."""
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: Database(empty_db.url).ensure_schema(), range(4)))
    with empty_db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
        assert MigrationContext.configure(connection).get_current_revision() == empty_db.head_revision()
    with empty_db.engine.begin() as connection:
        command.downgrade(empty_db._alembic(connection), "0003")
    assert empty_db.schema_revision() == "0003"
    empty_db.ensure_schema()
    assert empty_db.schema_revision() == SCHEMA_HEAD
    with empty_db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []


def test_a_command_on_a_new_or_current_database_loads_no_alembic_httpx_nor_orm(tmp_path: Path) -> None:
    """Alembic is for a database that is behind, httpx for searches and verifiers, and nothing uses
    SQLAlchemy's ORM: a run on domains starts without any of them (together some 0.3 s of every start)."""
    probe = (
        "import sys; from leadpipe.db.connect import Database; from leadpipe.stages import load_pipeline; "
        f"load_pipeline('leadpipe.stages:PIPELINE'); db = Database('sqlite:///{tmp_path / 'new.db'}'); "
        "db.ensure_schema(); db.ensure_schema(); print(db.schema_revision(), "
        "sorted({m for m in sys.modules if m.split('.')[0] in ('alembic', 'httpx') or m == 'sqlalchemy.orm'}))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == f"{SCHEMA_HEAD} []"


def test_each_declared_natural_key_is_a_unique_constraint_of_its_table(db: Database) -> None:
    """What the engine's inserts skip on and link by is what the database keeps unique."""
    found = inspect(db.engine)
    for name, key in NATURAL_KEYS.items():
        unique = [tuple(constraint["column_names"]) for constraint in found.get_unique_constraints(name)]
        assert key in unique, (name, key, unique)
    # Every work table that a record can be added to twice without a copy names its key.
    assert set(WORK_TABLES) == set(WORK_TABLES) & set(NATURAL_KEYS)


def test_the_claim_and_reaper_indexes_are_partial(db: Database) -> None:
    indexes = {index["name"]: index for index in inspect(db.engine).get_indexes("pages")}
    assert indexes["ix_pages_claim"]["column_names"] == ["priority", "run_after", "id"]
    where = indexes["ix_pages_claim"].get("dialect_options", {})
    assert "pending" in str(where.get("postgresql_where") or where.get("sqlite_where"))


def test_contacts_belong_to_a_domain_and_are_unique_per_kind_and_value(db: Database) -> None:
    with db.begin() as connection:
        domain_id = connection.execute(
            insert(domains).values(name="a.test").returning(domains.c.id)
        ).scalar_one()
        connection.execute(insert(contacts).values(domain_id=domain_id, kind="email", value="info@a.test"))
    with pytest.raises(IntegrityError), db.begin() as connection:
        connection.execute(insert(contacts).values(domain_id=domain_id, kind="email", value="info@a.test"))
    with pytest.raises(IntegrityError), db.begin() as connection:
        connection.execute(insert(contacts).values(domain_id=None, kind="email", value="x@a.test"))


def test_statuses_outside_the_engine_s_set_are_refused(db: Database) -> None:
    with pytest.raises(IntegrityError), db.begin() as connection:
        connection.execute(insert(domains).values(name="a.test", status="Queued"))


def test_every_migration_goes_down_and_up_again(db: Database) -> None:
    with db.engine.begin() as connection:
        config = db._alembic(connection)
        command.downgrade(config, "0003")
        command.upgrade(config, "head")
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []

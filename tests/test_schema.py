"""The schema: migrations from empty give the models' schema, on both databases; natural keys hold."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect
from sqlalchemy.exc import IntegrityError

from leadpipe.db.connect import Database
from leadpipe.db.models import NATURAL_KEYS, WORK_TABLES, Base, contacts, domains


def test_migrations_from_empty_give_the_models_schema(db: Database) -> None:
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    assert db.schema_revision() == db.head_revision()


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
    from alembic import command

    with db.engine.begin() as connection:
        config = db._alembic(connection)
        command.downgrade(config, "0003")
        command.upgrade(config, "head")
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []

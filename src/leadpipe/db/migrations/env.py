"""Alembic environment: leadpipe hands it an open connection (see ``Database.upgrade``)."""

from alembic import context

from leadpipe.db.models import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

"""The database: models, connection, migrations."""

__all__ = ["connect", "models"]

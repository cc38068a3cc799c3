"""The stage engine: stage declarations, the queue's operations and their SQL, bulk writes, the worker
and its database thread, pause, curation and health."""

__all__ = ["bulk", "curation", "cursor", "dbthread", "health", "pause", "queue", "sql", "stage", "worker"]

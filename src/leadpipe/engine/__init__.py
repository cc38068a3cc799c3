"""The stage engine: stage declarations, the queue's SQL, the worker and its database thread, curation
and health."""

__all__ = ["curation", "dbthread", "health", "queue", "stage", "worker"]

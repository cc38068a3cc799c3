"""The stage engine: stage declarations, the queue's SQL, the worker, curation and health."""

__all__ = ["curation", "health", "queue", "stage", "worker"]

"""The stage engine: stage declarations, the queue's SQL, the worker, curation and health."""

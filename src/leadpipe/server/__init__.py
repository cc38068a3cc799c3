"""The web application of `leadpipe serve`: the HTTP API, the dashboard, readiness, metrics, API keys
and the notifier that pushes alerts."""

__all__ = ["api", "app", "auth", "dashboard", "keys", "metrics", "notifier"]

"""Reaching the web: one fetcher, its politeness and safety layers."""

"""Reaching the web: one fetcher, its politeness and safety layers."""

__all__ = ["decode", "dns_lookup", "fetch", "render", "sitemaps", "verifiers"]

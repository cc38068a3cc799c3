"""Pure extractors: functions of text in, facts out; no I/O, easy to test."""

__all__ = ["contacts", "links", "pages", "sitemap", "website"]

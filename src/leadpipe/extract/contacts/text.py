"""A page's visible text, as the extractor reads it: which elements hold no text a visitor reads, and
how text nodes are joined."""

from __future__ import annotations

# Elements whose text no visitor reads as text: code, styles, and what a form field holds or suggests.
NOT_TEXT = ("script", "style", "noscript", "template", "textarea", "select", "svg", "iframe", "object")
# Joins text nodes so that no pattern runs from one into the next: nothing we match contains it.
NODE_BREAK = "\x00"

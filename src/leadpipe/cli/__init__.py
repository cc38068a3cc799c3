"""The command line: ``leadpipe``."""

from leadpipe.cli.app import app, main

__all__ = ["app", "main"]

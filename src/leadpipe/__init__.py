"""leadpipe: turn local businesses into verified contact leads, durably."""

__all__ = ["__version__"]

__version__ = "0.1.0"

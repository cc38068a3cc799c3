"""leadpipe: turn local businesses into verified contact leads, durably."""

__version__ = "0.1.0"

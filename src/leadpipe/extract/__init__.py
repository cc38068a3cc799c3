"""Pure extractors: functions of text in, facts out; no I/O, easy to test."""

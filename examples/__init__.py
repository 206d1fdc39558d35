"""Runnable examples of eightxeight-async: see examples/README.md."""

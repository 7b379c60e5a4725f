"""Command-line interface: ``skmd <command>``."""

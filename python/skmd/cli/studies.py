"""The studies' commands: mb-al, mb-w2, ala2, ubmd (the general ones, al, al-compare and export, are
registered by :func:`skmd.cli.main.build_parser`)."""
from . import ala2, mueller_brown, ubmd


def add_commands(sub) -> None:
    mueller_brown.add_commands(sub)
    ala2.add_command(sub)
    ubmd.add_command(sub)

"""Study commands (mb-al, mb-w2, ala2, ubmd) are registered here."""


def add_commands(sub) -> None:
    from . import ala2, mueller_brown, ubmd  # noqa: PLC0415
    mueller_brown.add_commands(sub)
    ala2.add_command(sub)
    ubmd.add_command(sub)

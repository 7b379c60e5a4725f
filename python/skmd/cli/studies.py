"""Study commands (mb-al, mb-w2, ala2, ubmd) are registered here."""


def add_commands(sub) -> None:
    from ..studies import mb_al, mb_w2  # noqa: PLC0415
    from . import ala2, ubmd  # noqa: PLC0415
    mb_al.add_command(sub)
    mb_w2.add_command(sub)
    ala2.add_command(sub)
    ubmd.add_command(sub)

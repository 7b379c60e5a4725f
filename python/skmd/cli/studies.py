"""The commands after ``skmd info`` are registered here: al (the campaign), al-compare (campaigns over seeds),
export (a model for mace's tools), then the studies mb-al, mb-w2, ala2, ubmd."""


def add_commands(sub) -> None:
    from . import al, al_compare, ala2, export, mueller_brown, ubmd  # noqa: PLC0415
    al.add_command(sub)
    al_compare.add_command(sub)
    export.add_command(sub)
    mueller_brown.add_commands(sub)
    ala2.add_command(sub)
    ubmd.add_command(sub)

"""``skmd ubmd``: the uncertainty-biased-MD presets of ``skmd al`` under a short name.

``skmd ubmd --system ala2`` is ``skmd al --preset ubmd-ala2`` (NVT, GFN2-xTB); ``si`` is
``ubmd-si`` (diamond silicon, NPT, GFN1-xTB) and ``co2`` is ``ubmd-co2`` (dry ice, NPT, GFN1-xTB).
Every flag of ``skmd al`` works here too and overrides the preset.
"""
from __future__ import annotations

from .al import add_campaign_flags, run

SYSTEMS = ("ala2", "si", "co2")


def add_command(sub) -> None:
    p = sub.add_parser("ubmd", help="active learning with uncertainty-biased MD (skmd al --preset ubmd-<system>)",
                       description="Uncertainty-biased MD against plain MD: the presets ubmd-ala2, ubmd-si and "
                                   "ubmd-co2 of skmd al.")
    p.add_argument("--system", default="ala2", choices=SYSTEMS,
                   help="ala2: alanine dipeptide (NVT, GFN2-xTB); si: 8-atom diamond Si (NPT, GFN1-xTB); "
                        "co2: 12-atom dry-ice crystal (NPT, GFN1-xTB)")
    add_campaign_flags(p)
    p.set_defaults(func=_main, resumable=True)


def _main(args) -> int:
    args.preset = f"ubmd-{args.system}"
    args.out = args.out or f"runs/{args.preset}"
    return run(args)

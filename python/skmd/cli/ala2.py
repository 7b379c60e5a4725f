"""``skmd ala2``: the alanine-dipeptide presets of ``skmd al`` under a short name.

``skmd ala2 --quick`` is ``skmd al --preset ala2``, ``--medium`` is ``--preset ala2-medium`` (the
head-to-head of SKMD, MD at 300 and 700 K, UB-MD and UDD) and ``--full`` is ``--preset ala2-full``;
every flag of ``skmd al`` works here too and overrides the preset.
"""
from __future__ import annotations

from .al import add_campaign_flags, run

PRESETS = {"quick": "ala2", "medium": "ala2-medium", "full": "ala2-full"}


def add_command(sub) -> None:
    p = sub.add_parser("ala2", help="alanine-dipeptide active learning (skmd al --preset ala2[-medium|-full])",
                       description="Alanine dipeptide (GFN2-xTB oracle), scored on the shipped independent test "
                                   "set: the presets ala2, ala2-medium and ala2-full of skmd al.")
    scale = p.add_mutually_exclusive_group(required=True)
    scale.add_argument("--quick", action="store_true", help="preset ala2: minutes on 2 cores")
    scale.add_argument("--medium", action="store_true",
                       help="preset ala2-medium: skmd, md300, md700, ubmd and udd head to head "
                            "(over an hour on 2 cores)")
    scale.add_argument("--full", action="store_true", help="preset ala2-full: the paper's scale (days)")
    add_campaign_flags(p)
    p.set_defaults(func=_main, resumable=True)


def _main(args) -> int:
    args.preset = next(PRESETS[scale] for scale in PRESETS if getattr(args, scale))
    args.out = args.out or f"runs/{args.preset}"
    return run(args)

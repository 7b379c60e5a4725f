"""``skmd mb-al`` and ``skmd mb-w2``: the command lines of :mod:`skmd.studies.mb_al` and
:mod:`skmd.studies.mb_w2`."""
from __future__ import annotations

from dataclasses import replace

from ..studies import add_common_flags
from ..studies.mb_defaults import EXPLORATION_AMPLITUDE, REGIMES, SAMPLERS, TAU_AT_RULE, TAU_EXPLORATION

AMPLITUDE_HELP = "kernel amplitude h (default: the regime's; a-SKMD's tau stays the regime's unless --tau is given)"


def add_commands(sub) -> None:
    p = sub.add_parser("mb-al", help="Müller–Brown NN active learning (paper Figs. 1, 2, 5)")
    p.add_argument("--trials", type=int, default=None)
    p.add_argument("--iterations", type=int, default=None)
    p.add_argument("--samplers", default=",".join(SAMPLERS), help="comma-separated subset of " + ",".join(SAMPLERS))
    p.add_argument("--regime", choices=REGIMES, default="exploration",
                   help=f"SKMD's regime: exploration (default; h = {EXPLORATION_AMPLITUDE:g}, a-SKMD tau = "
                        f"{TAU_EXPLORATION:g}, reaches unseen basins) or boltzmann (h = 0.1 N = 3.2, tau = "
                        f"{TAU_AT_RULE:g}, samples the target, stays in its basin)")
    p.add_argument("--amplitude", type=float, default=None, help=AMPLITUDE_HELP)
    p.add_argument("--tau", type=float, default=None, help="a-SKMD stop threshold (default: the regime's)")
    add_common_flags(p, "runs/mb-al", "4 trials × 4 iterations, 500 test points, every model trained to convergence (about 50 CPU-s)")
    p.set_defaults(func=_main_al)
    p = sub.add_parser("mb-w2", help="Müller–Brown Boltzmann fidelity: W2 of SKMD vs Langevin (paper Fig. 4)")
    p.add_argument("--trials", type=int, default=None)
    p.add_argument("--steps", type=int, default=None, help="total steps per trial")
    p.add_argument("--amplitude", type=float, default=None,
                   help="kernel amplitude h (default 3.2 = 0.1 N, the Boltzmann regime this study measures)")
    add_common_flags(p, "runs/mb-w2", "10 trials, 8000 steps")
    p.set_defaults(func=_main_w2)


def _configured(config, quick: dict, args, fields: dict):
    """``config`` with the ``--quick`` preset, then every flag given (``fields``: flag name → config field)."""
    if args.quick:
        config = replace(config, **quick)
    given = {field: getattr(args, flag) for flag, field in fields.items() if getattr(args, flag) is not None}
    return replace(config, **given)


def _main_al(args) -> int:
    from ..studies.mb_al import QUICK, ALConfig, regime_settings, run_study  # noqa: PLC0415  lazy: skmd --help start-up (the study imports numpy, torch)
    from ..studies.mb_report import summary_table  # noqa: PLC0415  lazy: skmd --help start-up (imports numpy)
    config = ALConfig(seed=args.seed, backend=args.backend, samplers=tuple(s.strip() for s in args.samplers.split(",")),
                      **regime_settings(args.regime))
    config = _configured(config, QUICK, args, {"trials": "trials", "iterations": "iterations",
                                               "amplitude": "amplitude", "tau": "tau"})
    results = run_study(config, args.out, show_progress=not args.no_progress)
    print(summary_table(results))
    from ..studies.plots import AL_FIGURES  # noqa: PLC0415  lazy: skmd --help start-up (imports numpy)
    print(f"wrote {args.out}/results.json and {', '.join(AL_FIGURES.values())}")
    return 0


def _main_w2(args) -> int:
    from ..studies.mb_w2 import QUICK, W2Config, run_study  # noqa: PLC0415  lazy: skmd --help start-up (the study imports numpy)
    config = _configured(W2Config(seed=args.seed, backend=args.backend), QUICK, args,
                         {"trials": "trials", "steps": "total_steps", "amplitude": "amplitude"})
    results = run_study(config, args.out, show_progress=not args.no_progress)
    final = results["statistics"]["final"]
    for name, r in results["methods"].items():
        median = final["per_sampler"][name]["median"]
        print(f"{name:>12}: final W2 median {median['estimate']:.3f} [{median['low']:.3f}, {median['high']:.3f}]"
              f"  ({r['wall_s']:.1f} s)")
    for pair, c in final["pairs"].items():
        d = c["median_difference"]
        print(f"{pair:>24}: median difference {d['estimate']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}], "
              f"Holm p = {c['p_holm']:.2g}{' (significant)' if c['significant'] else ''}")
    from ..studies.plots import W2_FIGURE  # noqa: PLC0415  lazy: skmd --help start-up (imports numpy)
    print(f"wrote {args.out}/results.json and {W2_FIGURE}")
    return 0

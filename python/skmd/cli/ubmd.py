"""``skmd ubmd``: the command line of :mod:`skmd.studies.ubmd`."""
from __future__ import annotations

from dataclasses import replace


def add_command(sub) -> None:
    from ..studies.ubmd.config import SELECTIONS, SYSTEMS, UNCERTAINTIES  # noqa: PLC0415
    p = sub.add_parser("ubmd", help="active learning with uncertainty-biased MD (molecule NVT, periodic NPT)")
    p.add_argument("--system", default="ala2", choices=SYSTEMS,
                   help="ala2: alanine dipeptide (NVT, GFN2-xTB); periodic: 8-atom diamond Si (NPT, GFN1-xTB); "
                        "co2: 12-atom dry-ice crystal (NPT, GFN1-xTB)")
    p.add_argument("--quick", action="store_true", help="small settings that finish in minutes")
    p.add_argument("--full", action="store_true", help="the full settings (hours on 2 cores)")
    p.add_argument("--out", default=None, help="output directory (default runs/ubmd_<system>)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--calculator", default=None,
                   help="the oracle, 'module:function' returning an ASE calculator "
                        "(default: GFN2-xTB for ala2, GFN1-xTB for periodic and co2, all tblite)")
    p.add_argument("--retry-failed", action="store_true",
                   help="send configurations whose labelling failed (or was interrupted) to the oracle again")
    p.add_argument("--uncertainty", default="gradient", choices=UNCERTAINTIES)
    p.add_argument("--selection", default="max_det", choices=SELECTIONS)
    p.add_argument("--iterations", type=int, default=None, help="active-learning iterations (>= 1)")
    p.add_argument("--tau", type=float, default=None, help="bias strength τ > 0 (adaptive; default 0.2)")
    p.set_defaults(func=_main, resumable=True)


def config_from_args(args):
    """The validated :class:`~skmd.studies.ubmd.UBMDConfig` the flags describe."""
    from ..studies.ubmd import FULL, QUICK, UBMDConfig  # noqa: PLC0415
    if args.quick == args.full:
        raise ValueError("choose exactly one of --quick (minutes) and --full (hours)")
    preset = (QUICK if args.quick else FULL)[args.system]
    config = replace(UBMDConfig(system=args.system, uncertainty=args.uncertainty, selection=args.selection,
                                seed=args.seed), **preset)
    overrides = {"iterations": args.iterations, "tau": args.tau}
    config = replace(config, **{key: value for key, value in overrides.items() if value is not None})
    return config.validate()


def _main(args) -> int:
    from ..tools.factories import load_factory  # noqa: PLC0415
    from ..studies.ubmd import Study  # noqa: PLC0415
    args.out = out = args.out or f"runs/ubmd_{args.system}"
    config = config_from_args(args)
    factory = None if args.calculator is None else load_factory(args.calculator)
    results = Study(config, out, calculator_factory=factory, threads=args.threads,
                    retry_failed=args.retry_failed).run()
    print(summary_table(results))
    print(f"oracle calls: {results['oracle_calls']}; {results['wall_s']:.0f} s; wrote {out}/results.json and figures")
    return 0


def summary_table(results) -> str:
    """Markdown table: final test RMSEs and what each sampler visited."""
    keys = [k for k in ("energy_rmse_meV_atom", "force_rmse_meV_A", "stress_rmse_meV_A3") if k in results["initial"]]
    lines = ["| sampler | " + " | ".join(keys) + " | visited |", "|---" * (len(keys) + 2) + "|"]
    for name, r in [("surrogate", None), *results["samplers"].items()]:
        errors = results["initial"] if r is None else r["iterations"][-1]
        if r is None:
            seen = "-"
        elif "ramachandran_coverage" in r:
            seen = f"coverage {r['ramachandran_coverage']:.3f}"
        else:
            seen = "; ".join(f"{p} GPa: {lo:.1f}–{hi:.1f} Å³" for p, (lo, hi) in r["volume_range_A3"].items())
        lines.append(f"| {name} | " + " | ".join(f"{errors[k]:.1f}" for k in keys) + f" | {seen} |")
    return "\n".join(lines + comparison_lines(results))


def comparison_lines(results) -> list:
    """Markdown rows: every pair's median per-test-frame error difference a − b [95 % CI], Holm p."""
    units = {"energy": "meV/atom", "forces": "meV/Å", "stress": "meV/Å³"}
    lines = ["", "| quantity | a vs b | median per-frame difference a − b [95 % CI] | p (Holm) | significant |",
             "|---|---|---|---|---|"]
    for quantity, block in results.get("comparisons_final", {}).items():
        for pair, c in block["pairs"].items():
            d = c["median_difference"]
            lines.append(f"| {quantity} ({units[quantity]}) | {pair} | {d['estimate']:.1f} [{d['low']:.1f}, "
                         f"{d['high']:.1f}] | {c['p_holm']:.2g} | {'yes' if c['significant'] else 'no'} |")
    return lines if len(lines) > 3 else []

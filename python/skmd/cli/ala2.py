"""``skmd ala2``: the command line of :mod:`skmd.studies.ala2`."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..studies import add_common_flags


def add_command(sub) -> None:
    from ..studies.ala2 import SAMPLERS  # noqa: PLC0415
    p = sub.add_parser("ala2", help="alanine-dipeptide active learning and MACE fine-tuning (paper Fig. 3)")
    p.add_argument("--full", action="store_true",
                   help="the paper's settings: 300 candidates, 500 steps per move, 100 selected, 10 iterations")
    p.add_argument("--medium", action="store_true",
                   help="the head-to-head of skmd, md300, md700, ubmd and udd on the shipped independent test set "
                        "(under an hour on 2 cores with --workers 2)")
    p.add_argument("--testset", default=None,
                   help="a labelled extxyz file to score on (default: --medium the shipped set, else built by the run)")
    p.add_argument("--iterations", type=int, default=None, help="active-learning iterations (>= 1)")
    p.add_argument("--samplers", default=None,
                   help="comma-separated subset of skmd, md<T> for T in --md-temperatures, ubmd and udd "
                        f"(default {','.join(SAMPLERS)}; --medium: all five)")
    p.add_argument("--md-temperatures", default=None,
                   help="comma-separated temperatures in K of the Langevin-MD baselines (default 300,700)")
    p.add_argument("--amplitude", type=float, default=None, help="SKMD kernel amplitude h >= 0 (default 3; --quick 8)")
    p.add_argument("--surrogate", default=None,
                   help="a MACE model to start from (default: train one): skmd's .safetensors, or a pickled "
                        ".model with --trust-model")
    p.add_argument("--trust-model", action="store_true",
                   help="allow --surrogate to be a pickled .model: reading a pickle runs any code it holds, so only "
                        "for files whose source you trust (see docs/model-files.md)")
    p.add_argument("--surrogate-only", action="store_true",
                   help="build the surrogate (oracle MD in C7eq, labels, mace_run_train) and stop")
    p.add_argument("--calculator", default="skmd.atoms.oracle:gfn2_xtb",
                   help="the oracle: 'module:function' returning an ASE calculator")
    p.add_argument("--finetune", default="lora", choices=["lora", "full"])
    p.add_argument("--retry-failed", action="store_true",
                   help="send configurations whose labelling failed (or was interrupted) to the oracle again")
    p.add_argument("--workers", type=int, default=None,
                   help="run the samplers of an iteration, and the labelling, in a pool of this many processes "
                        "(each with --threads threads); default: one after another in this process")
    add_common_flags(p, "runs/ala2", "small settings that finish in under 10 minutes")
    p.set_defaults(func=_main, resumable=True)


def _temperatures(text: str) -> tuple:
    try:
        return tuple(float(t) for t in text.split(","))
    except ValueError:
        raise ValueError(f"--md-temperatures must be comma-separated numbers in K, got {text!r}") from None


def config_from_args(args):
    """The validated :class:`~skmd.studies.ala2.Ala2Config` the flags describe."""
    from ..studies.ala2 import MEDIUM, QUICK, Ala2Config  # noqa: PLC0415
    from ..studies.ala2_testset import file_sha256, shipped_testset  # noqa: PLC0415
    if sum((args.quick, args.medium, args.full)) != 1:
        raise ValueError("choose one of --quick (minutes), --medium (the head-to-head, under an hour) "
                         "and --full (the paper's settings, days on 2 cores)")
    config = Ala2Config(seed=args.seed, backend=args.backend, finetune_mode=args.finetune)
    if args.quick:
        config = replace(config, **QUICK)
    if args.medium:
        config = replace(config, **MEDIUM)
    if args.samplers is not None:
        config = replace(config, samplers=tuple(s.strip() for s in args.samplers.split(",")))
    if args.medium and args.testset is None:
        path, sha = shipped_testset()
        config = replace(config, testset=path, testset_sha256=sha)
    if args.testset is not None:
        if not Path(args.testset).is_file():
            raise ValueError(f"no test set file at {args.testset}")
        config = replace(config, testset=args.testset, testset_sha256=file_sha256(args.testset))
    overrides = {"iterations": args.iterations, "amplitude": args.amplitude,
                 "md_temperatures": None if args.md_temperatures is None else _temperatures(args.md_temperatures)}
    config = replace(config, **{key: value for key, value in overrides.items() if value is not None})
    return config.validate()


def _executor(workers):
    if workers is None:
        return None
    from ..tools.pool import process_pool  # noqa: PLC0415
    return process_pool(workers)


def _main(args) -> int:
    from ..studies.ala2 import Study  # noqa: PLC0415
    from ..tools.factories import load_factory  # noqa: PLC0415
    from ..tools.checks import positive_int  # noqa: PLC0415
    config = config_from_args(args)
    factory = load_factory(args.calculator)
    if args.workers is not None:
        positive_int("--workers", args.workers)
    if args.surrogate_only:
        study = Study(config, args.out, calculator_factory=factory, retry_failed=args.retry_failed)
        print(f"surrogate: {study.surrogate()}")
        return 0
    executor = _executor(args.workers)
    try:
        study = Study(config, args.out, calculator_factory=factory, executor=executor, surrogate=args.surrogate,
                      threads=args.threads, jobs=args.workers or 1, trust_model=args.trust_model,
                      retry_failed=args.retry_failed)
        results = study.run()
    finally:
        if executor is not None:
            executor.shutdown()
    print(summary_table(results))
    print(f"oracle calls: {results['oracle_calls']}; wrote {args.out}/results.json and figures")
    return 0


def summary_table(results) -> str:
    """Markdown table of the energy and force RMSEs of every sampler, per iteration."""
    lines = ["| sampler | energy RMSE (eV) per iteration | force RMSE (eV/Å) per iteration |", "|---|---|---|"]
    for name, r in results["samplers"].items():
        energy = ", ".join(f"{v:.3f}" for v in r["energy_rmse"])
        force = ", ".join(f"{v:.3f}" for v in r["force_rmse"])
        lines.append(f"| {name} | {energy} | {force} |")
    return "\n".join(lines)

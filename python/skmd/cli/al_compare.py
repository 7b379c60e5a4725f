"""``skmd al-compare``: finished ``skmd al`` campaigns of one config and several seeds, compared over the seeds
(:mod:`skmd.al.over_seeds`), with the alanine-dipeptide study's coverage and claims
(:data:`skmd.studies.ala2_over_seeds.ALA2`): prints the markdown, optionally writes the JSON."""
from __future__ import annotations

import sys
from pathlib import Path


def add_command(sub) -> None:
    p = sub.add_parser("al-compare", help="compare finished skmd al campaigns of one config over their seeds",
                       description="Compare finished skmd al run directories that differ only in --seed: mean and "
                                   "95 % t-interval over seeds of test errors (also per basin), coverage, labels "
                                   "and stage times; paired tests of the final models over seeds (per test frame: "
                                   "descriptive); verdicts on the papers' claims.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories of skmd al (--out), one per seed")
    p.add_argument("--out", dest="json_out", default=None, metavar="FILE.json", help="also write the result as JSON")
    p.add_argument("--publish", default=None, metavar="DIR",
                   help="also copy every final model into DIR/seed<S>/<sampler>.safetensors with DIR/manifest.json "
                        "(sampler, seed, labels, commits, sha256)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.json_out is not None and not Path(args.json_out).resolve().parent.is_dir():
        raise ValueError(f"cannot write {args.json_out}: its folder does not exist")
    from ..al.over_seeds import compare_runs, render_markdown  # noqa: PLC0415  lazy: skmd --help start-up (imports numpy, scipy)
    from ..studies.ala2_over_seeds import ALA2  # noqa: PLC0415  lazy: skmd --help start-up (imports numpy, torch)
    result = compare_runs(args.run_dirs, ALA2)
    if args.publish is not None:
        from ..al.publish import publish_models  # noqa: PLC0415  lazy: skmd --help start-up (imports numpy)
        manifest = publish_models(args.run_dirs, args.publish)
        print(f"published {len(manifest['models'])} final models to {args.publish} (manifest.json)", file=sys.stderr)
    if args.json_out is not None:
        from ..tools.rundir import write_json  # noqa: PLC0415  lazy: skmd --help start-up (imports numpy)
        write_json(args.json_out, result)
    print(render_markdown(result, ALA2), end="")
    return 0

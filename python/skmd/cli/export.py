"""``skmd export MODEL.safetensors OUT.model``: a campaign's model as a mace ``.model`` for mace's own tools.

mace's ``MACECalculator(model_paths="OUT.model")`` then runs it in any ASE dynamics, and mace's
``mace_create_lammps_model`` and ``mace_eval_configs`` take it too (docs/model-files.md).
"""
from __future__ import annotations

from pathlib import Path


def add_command(sub) -> None:
    p = sub.add_parser("export", help="write a model of skmd's (.safetensors) as a mace .model for mace's tools",
                       description="Write MODEL (skmd's safe .safetensors format, as every campaign saves its "
                                   "models) as a mace .model file that mace's MACECalculator, mace_run_train and "
                                   "mace_create_lammps_model read.")
    p.add_argument("model", help="a .safetensors model written by skmd (e.g. RUN/samplers/md/iter03/model.safetensors)")
    p.add_argument("out", help="the .model file to write")
    p.set_defaults(func=_main)


def _main(args) -> int:
    from ..atoms.mace_models import export_mace  # noqa: PLC0415  lazy: skmd --help start-up (mace imports torch)
    out = export_mace(args.model, args.out)
    print(f"wrote {out}: load it with mace.calculators.MACECalculator(model_paths={str(Path(out))!r}, device='cpu')")
    return 0

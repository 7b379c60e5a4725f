"""A default campaign on a system no preset knows: a 32-atom Cu cell (fcc, a = 3.61 Å) with ASE's EMT.

Runs ``skmd al --structures cu32.extxyz --oracle ase.calculators.emt:EMT --samplers md,ubmd
--iterations 3`` with every other setting at its default (serial, the campaign's default threads)
and writes benchmarks/results/al_cu_emt.json: the wall time, the start (labels and the surrogate)
and, per sampler and iteration, the seconds of sampling, labelling, training and scoring, with the
share of each stage over the whole run, the machine and the commit.

Run: .venv/bin/python benchmarks/al_cu_emt.py [--out runs/cu-emt] [--summarize-only [--commit SHA]]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from ase.build import bulk
from ase.io import write

from skmd.tools.machine import machine_info, source_commit

HERE = Path(__file__).resolve().parent
TARGET_S = 600.0        # the target: 10 minutes on 2 cores
STAGES = ("sample_s", "label_s", "train_s", "score_s")


def run_campaign(out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    structures = out.parent / "cu32.extxyz"
    write(structures, bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2)))
    subprocess.run([str(Path(sys.executable).with_name("skmd")), "al", "--structures", str(structures),
                    "--oracle", "ase.calculators.emt:EMT", "--samplers", "md,ubmd", "--iterations", "3",
                    "--out", str(out)], check=True)


def summarize(out: Path, commit: str | None) -> dict:
    results = json.loads((out / "results.json").read_text())
    per_sampler = {name: [{key: round(float(it[key]), 1) for key in STAGES if key in it}
                          for it in sampler.get("iterations", [])]
                   for name, sampler in results["samplers"].items()}
    totals = {key: sum(it.get(key, 0.0) for its in per_sampler.values() for it in its) for key in STAGES}
    totals["start_s"] = float(results["timing"]["start_s"])
    wall = float(results["wall_s"])
    return {"command": "skmd al --structures cu32.extxyz --oracle ase.calculators.emt:EMT --samplers md,ubmd "
                       "--iterations 3", "wall_s": wall, "target_s": TARGET_S, "meets_target": wall <= TARGET_S,
            "threads": results["config"].get("threads"), "device": results["config"].get("device"),
            "stage_s": totals, "stage_share": {key: value / wall for key, value in totals.items()},
            "per_sampler": per_sampler, "commit": commit or source_commit(HERE), "machine": machine_info()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/cu-emt"))
    parser.add_argument("--result", type=Path, default=HERE / "results" / "al_cu_emt.json")
    parser.add_argument("--summarize-only", action="store_true", help="summarize a finished run in --out")
    parser.add_argument("--commit", default=None, help="with --summarize-only: the commit the run used")
    args = parser.parse_args(argv)
    if not args.summarize_only:
        run_campaign(args.out)
    summary = summarize(args.out, args.commit if args.summarize_only else None)
    args.result.write_text(json.dumps(summary, indent=2))
    print(json.dumps({key: summary[key] for key in ("wall_s", "stage_s", "stage_share")}, indent=1))
    return summary


if __name__ == "__main__":
    main()

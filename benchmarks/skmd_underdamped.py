"""How far underdamped SKMD moves, against Brownian SKMD and Langevin MD at 300 K, at equal force calls.

Alanine dipeptide, one MACE model (``--model``, skmd's safe format; default: the surrogate of a finished
``benchmarks/al_ala2_medium.py`` run in ``runs/ala2-medium``), float32, 30 walkers from the same perturbed
C7eq starts, one move of ``--steps`` steps each (one model call per step for every sampler):

* ``md300``: Langevin, 1 fs, damping 100 fs;
* ``skmd``: Brownian, 0.1 fs, γ = 75 eV·fs/Å², Stein bias with h = 3 (h/N = 0.1), round robin;
* ``skmd-ud``: the same Stein bias on Langevin at 1 fs, damping 100 fs, round robin.

Measured, fixed before running: per walk, the largest φ/ψ distance from its start (degrees, periodic), its
median over walks with a 95 % bootstrap interval, and every pair's paired difference (walk w of each
sampler starts from the same frame; Wilcoxon, Holm); the 10° × 10° φ/ψ cells all walks visited together
(no interval); the dropped (diverged) walks; the task's wall time. Writes benchmarks/results/skmd_underdamped.json.

Run: .venv/bin/python benchmarks/skmd_underdamped.py [--model PATH] [--steps 100] [--workers 2]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULT = HERE / "results" / "skmd_underdamped.json"


def spans(trace) -> list:
    """Per walk, the largest periodic φ/ψ distance (degrees) of its recorded points from its first one."""
    from skmd.atoms.observers import per_walk
    out = []
    for walk in per_walk(trace):
        delta = (walk - walk[0] + 180.0) % 360.0 - 180.0
        out.append(float(np.max(np.linalg.norm(delta, axis=1))))
    return out


def main() -> None:
    from skmd.al.samplers import MD, SKMD, Context
    from skmd.al.start import perturbed_copies
    from skmd.atoms.alanine import PhiPsi, alanine_dipeptide, visited_cells
    from skmd.atoms.observers import per_walk
    from skmd.atoms.parallel import run_samplers
    from skmd.tools.machine import machine_info
    from skmd.tools.pool import process_pool
    from skmd.tools.stats import summarize
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="runs/ala2-medium/model0/model.safetensors")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--walkers", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not Path(args.model).is_file():
        raise SystemExit(f"no model at {args.model}: pass --model, or run benchmarks/al_ala2_medium.py first")
    cv, shared = PhiPsi(), dict(dtype="float32", trace_interval=1)
    samplers = [MD(300.0, 1.0, 100.0, name="md300", trace=cv, **shared),
                SKMD(300.0, 0.1, 75.0, 3.0, name="skmd", trace=cv, **shared),
                SKMD(300.0, 1.0, 75.0, 3.0, name="skmd-ud", underdamped=True, damping_fs=100.0, trace=cv, **shared)]
    starts = perturbed_copies([alanine_dipeptide()], args.walkers, 0.05, 0.0, seed=7)
    context = Context((str(Path(args.model).resolve()),), "", "", None, 0)
    pool = process_pool(args.workers)
    try:
        results = run_samplers([s.spec(args.walkers, args.steps, seed=11) for s in samplers],
                               {s.name: starts for s in samplers}, {s.name: s.factory(context) for s in samplers},
                               executor=pool)
    finally:
        pool.shutdown()
    summary = {"settings": {"steps": args.steps, "walkers": args.walkers, "model": str(args.model),
                            "dtype": "float32", "seed": 11}, "machine": machine_info(), "samplers": {}}
    for name, result in results.items():
        trace = [row for records in result["records"] for row in records]
        walk_spans = spans(trace)
        cells = np.zeros((36, 36), bool)
        for walk in per_walk(trace):
            cells |= visited_cells(walk)
        summary["samplers"][name] = {"span_deg": summarize(walk_spans, seed=0), "cells_visited": int(cells.sum()),
                                     "coverage": float(cells.mean()), "dropped": len(result["dropped"]),
                                     "task_s": result["seconds"]}
        s = summary["samplers"][name]
        print(f"{name}: span median {s['span_deg']['median']['estimate']:.1f}° "
              f"[{s['span_deg']['median']['low']:.1f}, {s['span_deg']['median']['high']:.1f}], "
              f"{s['cells_visited']} cells, {s['dropped']} dropped, {s['task_s']:.0f} s")
    from skmd.tools.stats import compare_all
    paired = {name: [] for name in results}
    for name, result in results.items():     # walk w of every sampler starts from the same frame: paired
        trace = [row for records in result["records"] for row in records]
        by_walk = dict(zip(sorted({int(row[0]) for row in trace}), spans(trace)))
        paired[name] = by_walk
    common = sorted(set.intersection(*(set(v) for v in paired.values())))
    comparison = compare_all({name: [v[w] for w in common] for name, v in paired.items()},
                             [("skmd-ud", "md300"), ("skmd-ud", "skmd"), ("md300", "skmd")], seed=0)
    summary["span_pairs"] = comparison["pairs"]
    for pair, c in comparison["pairs"].items():
        d = c["median_difference"]
        print(f"{pair}: span difference {d['estimate']:.1f}° [{d['low']:.1f}, {d['high']:.1f}], "
              f"p_Holm {c['p_holm']:.2g}")
    RESULT.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

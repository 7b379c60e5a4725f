"""Which SKMD amplitude is admissible at the ala2-medium preset's 30 walkers, for each integrator.

The ala2 presets took the exploration sweep's h/N = 0.375 (8 walkers, Brownian SKMD) for 30 walkers and
for underdamped SKMD too; the first three-seed run then dropped 29 of 30 underdamped SKMD moves. This
pilot checks the transfer before any head-to-head result is used.

The rule, fixed before it ran (the exploration sweep's own admissibility limit):

* Samplers: ``skmd`` (Brownian, 0.1 fs, γ = 75 eV·fs/Å²) and ``skmd-ud`` (Langevin, 1 fs, damping
  100 fs), both at 300 K with the two-phase kernel schedule off, float32, 30 walkers, one 100-step move
  each, from the same 30 C7eq copies perturbed by 0.05 Å (seed 7), on one MACE model (``--model``).
* h ∈ {3, 5.625, 11.25} (h/N = 0.1, 0.1875, 0.375).
* Admissible: at most 10 % of the moves dropped as diverged. Per sampler, the admissible h with the most
  10° × 10° φ/ψ cells visited is chosen (ties: the smaller h). No test error is computed.

Run: .venv/bin/python benchmarks/ala2_amplitude_pilot.py --model PATH [--workers 2]
     → benchmarks/results/ala2_amplitude_pilot.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULT = HERE / "results" / "ala2_amplitude_pilot.json"
AMPLITUDES = (3.0, 5.625, 11.25)
MAX_DROPPED = 0.10


def choose(rows: list) -> dict:
    """Per sampler, the admissible amplitude with the most cells visited (ties: smaller h), or None."""
    chosen = {}
    for name in sorted({r["sampler"] for r in rows}):
        admissible = [r for r in rows if r["sampler"] == name and r["dropped_fraction"] <= MAX_DROPPED]
        best = max(admissible, key=lambda r: (r["cells_visited"], -r["amplitude"]), default=None)
        chosen[name] = None if best is None else best["amplitude"]
    return chosen


def main() -> None:
    from skmd.al.samplers import SKMD, Context
    from skmd.al.start import perturbed_copies
    from skmd.atoms.alanine import PhiPsi, alanine_dipeptide, visited_cells
    from skmd.atoms.observers import per_walk
    from skmd.atoms.parallel import run_samplers
    from skmd.tools.machine import machine_info, source_commit
    from skmd.tools.pool import process_pool
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    walkers, steps = 30, 100
    cv, shared = PhiPsi(), dict(dtype="float32", trace_interval=1)
    samplers = []
    for h in AMPLITUDES:
        samplers += [SKMD(300.0, 0.1, 75.0, h, name=f"skmd_h{h:g}", trace=cv, **shared),
                     SKMD(300.0, 1.0, 75.0, h, name=f"skmd-ud_h{h:g}", underdamped=True, damping_fs=100.0,
                          trace=cv, **shared)]
    starts = perturbed_copies([alanine_dipeptide()], walkers, 0.05, 0.0, seed=7)
    context = Context((str(Path(args.model).resolve()),), "", "", None, 0)
    pool = process_pool(args.workers)
    try:
        results = run_samplers([s.spec(walkers, steps, seed=11) for s in samplers],
                               {s.name: starts for s in samplers}, {s.name: s.factory(context) for s in samplers},
                               executor=pool)
    finally:
        pool.shutdown()
    rows = []
    for s in samplers:
        result = results[s.name]
        cells = np.zeros((36, 36), bool)
        for walk in per_walk([row for records in result["records"] for row in records]):
            cells |= visited_cells(walk)
        rows.append({"sampler": s.name.split("_h")[0], "amplitude": s.amplitude, "h_over_N": s.amplitude / walkers,
                     "dropped": len(result["dropped"]), "dropped_fraction": len(result["dropped"]) / walkers,
                     "cells_visited": int(cells.sum()), "task_s": result["seconds"]})
        r = rows[-1]
        print(f"{r['sampler']} h = {r['amplitude']:g}: {r['dropped']}/{walkers} dropped, {r['cells_visited']} cells, "
              f"{r['task_s']:.0f} s", flush=True)
    chosen = choose(rows)
    commit = source_commit(HERE)
    RESULT.write_text(json.dumps({"rule": __doc__.split("The rule, fixed before it ran")[1].split("Run:")[0].strip(),
                                  "model": str(args.model), "rows": rows, "chosen": chosen,
                                  "machine": machine_info(), "commit": commit}, indent=1))
    print(f"chosen: {chosen}; wrote {RESULT}")


if __name__ == "__main__":
    main()

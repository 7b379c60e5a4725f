"""Coverage pilot that picks SKMD's exploration amplitude for ``skmd mb-al`` (written to JSON).

    python benchmarks/mb_regime_pilot.py [--trials 8] → benchmarks/results/mb_regime_pilot.json

SKMD has two regimes. The **Boltzmann regime** keeps the ensemble close to the target distribution:
h ≤ 0.1 N (``skmd.fidelity_amplitude``; benchmarks/gaussian_fidelity.py). The **exploration regime**
is for active learning: a larger h that pushes particles apart so the acquired points reach basins the
model has not seen. Its amplitude is chosen here by coverage alone; no test error is computed or read.

The rule, fixed before the pilot ran:

* Grid: h ∈ {3.2 (the Boltzmann limit for N = 32), 10, 30, 100, 300, 1000}.
* Protocol: the mb-al loop itself (``skmd.studies.mb_al.run_study``) with the fixed-length SKMD sampler
  only, the quick settings (4 iterations, quick training), ``--trials`` trials, seed 100 (the study's
  tables use seeds 0–2; the pilot's data stay apart from them).
* Coverage of a trial: the basins (nearest Müller–Brown minimum A, B or C) holding at least one point
  SKMD acquired over the 4 iterations. Score: the fraction of trials whose points reach all three.
* Divergence rate: moves dropped as diverged / moves made (32 × iterations × trials).
* Choice: the smallest h with coverage ≥ 0.75 and divergence rate ≤ 0.05; if none qualifies, the h with
  the largest coverage among those with divergence rate ≤ 0.05 (ties: the smaller h).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import skmd
from skmd.studies import mb_al
from skmd.studies import mueller_brown as mbs
from skmd.tools.machine import machine_info, source_commit

GRID = (3.2, 10.0, 30.0, 100.0, 300.0, 1000.0)
MIN_COVERAGE, MAX_DIVERGENCE = 0.75, 0.05
PILOT_SEED = 100
RULE = ("smallest h with coverage (fraction of trials whose acquired points reach all three basins A, B, C) "
        f">= {MIN_COVERAGE} and divergence rate <= {MAX_DIVERGENCE}; else the largest coverage among h with "
        f"divergence rate <= {MAX_DIVERGENCE} (ties: smaller h). Grid {list(GRID)}, seed {PILOT_SEED}, quick "
        "settings, fixed-length SKMD only; no test error is read.")


def basins_reached(points_file: Path) -> list[str]:
    """The basins (nearest minimum) holding at least one point acquired after the start."""
    saved = np.load(points_file)
    acquired = saved["points"][saved["iteration"] > 0]
    return sorted(name for name, share in mbs.nearest_minimum_fractions(acquired).items() if share > 0)


def pilot_one(amplitude: float, trials: int, work: Path) -> dict:
    """Run the quick SKMD-only loop at ``amplitude``; its coverage and divergence rate."""
    config = mb_al.ALConfig(**{**mb_al.QUICK, "trials": trials}, amplitude=amplitude, samplers=("skmd",),
                            seed=PILOT_SEED, backend="numpy")
    out = work / f"h{amplitude:g}"
    started = time.perf_counter()
    results = mb_al.run_study(config, out, show_progress=False)
    wall = time.perf_counter() - started
    reached = [basins_reached(path) for path in sorted((out / "points" / "skmd").glob("trial_*.npz"))]
    moves = config.per_iteration * config.iterations * trials
    diverged = results["samplers"]["skmd"]["n_diverged"]
    return {"amplitude": amplitude, "h_over_N": amplitude / config.n_initial,
            "coverage": float(np.mean([len(r) == 3 for r in reached])), "basins_reached": reached,
            "divergence_rate": diverged / moves, "n_diverged": diverged, "moves": moves,
            "acquired_nearest_minimum": results["samplers"]["skmd"]["acquired_nearest_minimum"], "wall_s": wall}


def choose(rows: list[dict]) -> tuple[float, str]:
    """The amplitude the rule picks, and why."""
    stable = [r for r in rows if r["divergence_rate"] <= MAX_DIVERGENCE]
    covering = [r for r in stable if r["coverage"] >= MIN_COVERAGE]
    if covering:
        best = min(covering, key=lambda r: r["amplitude"])
        return best["amplitude"], f"smallest h with coverage >= {MIN_COVERAGE} and divergence <= {MAX_DIVERGENCE}"
    if not stable:
        raise SystemExit("no amplitude on the grid keeps the divergence rate within the rule")
    best = max(stable, key=lambda r: (r["coverage"], -r["amplitude"]))
    return best["amplitude"], f"no h reached coverage {MIN_COVERAGE}: the largest coverage among stable h"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "mb_regime_pilot.json"))
    args = parser.parse_args()
    warnings.simplefilter("ignore", skmd.DivergenceWarning)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        rows = []
        for h in GRID:
            rows.append(pilot_one(h, args.trials, Path(work)))
            r = rows[-1]
            print(f"h = {h:g}: coverage {r['coverage']:.2f}, divergence rate {r['divergence_rate']:.3f}, "
                  f"{r['wall_s']:.0f} s", flush=True)
    chosen, reason = choose(rows)
    commit = source_commit(Path(__file__).parent)
    result = {"rule": RULE, "trials": args.trials, "rows": rows, "chosen_amplitude": chosen, "reason": reason,
              "wall_s": time.perf_counter() - started, "machine": machine_info(), "commit": commit}
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"chosen h = {chosen:g} ({reason}); wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

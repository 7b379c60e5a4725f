"""Pilot runs behind the mb-al parameters (UDD's B and threshold, a-SKMD's tau), written to JSON.

    python benchmarks/mb_al_pilot.py [--trials 8] [--amplitude H]
      → benchmarks/results/mb_al_pilot.json (default amplitude) or mb_al_pilot_h{H}.json

* UDD (Kulichenko et al.): B is tuned so that the mean ‖F_bias‖/‖F̄‖ ≈ 0.36 along unbiased
  dynamics on the initial committee; the threshold is compared with rho at the training data.
* a-SKMD: the distribution of ‖b(x)‖ along fixed-length SKMD moves on the initial model;
  tau is its 10th percentile to 2 significant digits (``tau_rule``), fixed before the study runs.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

import skmd
from skmd.studies import mb_al
from skmd.studies import mueller_brown as mbs
from skmd.tools.machine import machine_info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--amplitude", type=float, default=None, help="kernel amplitude h (default: the study's)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    warnings.simplefilter("ignore", skmd.DivergenceWarning)
    c = mb_al.ALConfig(trials=args.trials, backend="numpy")
    if args.amplitude is not None:
        c.amplitude = args.amplitude
    suffix = "" if args.amplitude is None else f"_h{args.amplitude:g}"
    out_path = args.out or str(Path(__file__).resolve().parent / "results" / f"mb_al_pilot{suffix}.json")
    initial = np.stack([mbs.basin_samples(c.n_initial, c.kT, np.random.default_rng(s))
                        for s in mbs.trial_seeds(c.seed, c.trials)])
    data = [(x, *mbs.label(x)) for x in initial]
    trainer = mb_al.Trainer(c)
    model = trainer(data)
    committee, _ = trainer.committee(data, [np.random.default_rng(b) for b in range(c.trials)])

    walk = skmd.OverdampedLangevin(committee, initial[:, :1], kT=c.kT, dt=c.dt, bound=c.bound, backend="numpy",
                                   acquisition=skmd.Periodic(10, 300), noise=2)
    walk.run(1)
    ratios, rho_path, rho_data = {}, [], []
    for b in range(c.trials):
        member = committee.member(b)
        path = walk.acquired.arrays(b)["points"]
        e, f = member.evaluate_batch(path)
        rho_path.append(skmd.udd_bias(e, f, 1.0, 1.0)["rho"])
        e0, f0 = member.evaluate_batch(initial[b])
        rho_data.append(skmd.udd_bias(e0, f0, 1.0, 1.0)["rho"])
        for B in (0.3, 1.0, 2.0, 3.0, 10.0):
            out = skmd.udd_bias(e, f, c.udd_A, B)
            bias = out["force"] - f.mean(axis=1)
            ratios.setdefault(B, []).append(np.linalg.norm(bias, axis=1) / np.linalg.norm(f.mean(axis=1), axis=1))

    sampler = skmd.SKMD(model, initial, kernel=skmd.GaussianKernel(c.amplitude, "median"), kT=c.kT, dt=c.dt,
                        stopping=skmd.AdaptiveStop(tau=1e-12, t_min=0, t_max=c.t_max), bandwidth_schedule="initial",
                        noise=3, bound=c.bound, backend="numpy")
    norms = []
    for particle in range(c.n_initial):
        sampler.move_particle(particle)
        norms.append(sampler.last_values[np.isfinite(sampler.last_values)])
    norms = np.concatenate(norms)
    report = {
        "config": {"trials": c.trials, "kT": c.kT, "udd_A": c.udd_A, "amplitude": c.amplitude},
        "udd_mean_bias_ratio_by_B": {str(B): float(np.mean(np.concatenate(r))) for B, r in ratios.items()},
        "udd_rho_training_data_percentiles_50_90": np.percentile(np.concatenate(rho_data), [50, 90]).tolist(),
        "udd_rho_unbiased_path_percentiles_50_90_99": np.percentile(np.concatenate(rho_path), [50, 90, 99]).tolist(),
        "skmd_bias_norm_percentiles_1_5_10_25_50": np.percentile(norms, [1, 5, 10, 25, 50]).tolist(),
        "tau_rule": float(f"{np.percentile(norms, 10):.2g}"),
        "chosen": {"udd_B": c.udd_B, "udd_threshold": c.udd_threshold, "tau": c.tau, "t_min": c.t_min},
        "machine": machine_info(),
    }
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    Path(out_path).write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

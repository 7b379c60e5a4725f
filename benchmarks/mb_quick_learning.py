"""Why the quick Müller–Brown study (``skmd mb-al --quick``) shows no test-set learning: training or data?

    python benchmarks/mb_quick_learning.py [--seed 0] → benchmarks/results/mb_quick_learning.json

The quick run's median test force RMSE rises for most samplers. Two explanations compete: (1) the quick
training (Adam, 200 warm-started epochs per iteration when this ran; the full study's 400 since) does not
fit the new labels; (2) the test set
(exact Boltzmann samples at kT = 4, all nearest basin A) lies where the samplers' labels do not go. This
diagnostic separates them, with the protocol fixed before it ran:

* Run the quick study as shipped (seed ``--seed``).
* For every sampler and trial, refit its final training labels (held-out points excluded) from the
  same initial model, trained to convergence: full-batch Adam at lr 0.01, halved whenever the loss
  falls by less than 1 % over 100 epochs, stopped once the rate is below lr/64 (cap 20,000 epochs).
* Record per trial: the training and test force RMSE of the model as run and of the refit, the test
  force RMSE of the initial model, and the share of labels nearest minimum A.

If the refits fit their labels but the test error still does not fall where a sampler's labels miss
basin A, the quick run's picture is set by where the samplers went, not by the training.
(Since the quick run itself trains to convergence with this rule, its "as run" and "converged" columns
differ only in that the refit starts from the initial model on the final labels.)
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

import skmd
from skmd.modules import nn
from skmd.modules.potentials import MLPPotential
from skmd.studies import mb_al
from skmd.studies import mueller_brown as mbs
from skmd.tools.machine import machine_info, source_commit

WINDOW, MIN_FALL, LR, FLOOR, CAP = 100, 0.01, 0.01, 64, 20_000


def converged_fit(points, energies, forces, mask, config, seed, init=None):
    """The models of :func:`skmd.modules.nn.train_mlps`, trained until the loss stops falling (its "plateau"
    schedule, whose defaults are the rule above). Returns (MLPPotential, epochs)."""
    return nn.fit_mlps(points, energies, forces, mask, replace(config, schedule="plateau", learning_rate=LR,
                                                               plateau_window=WINDOW, plateau_min_fall=MIN_FALL,
                                                               plateau_floor=FLOOR, max_epochs=CAP), seed, init)


def force_rmse(model, b, x, f) -> float:
    return float(np.sqrt(np.mean((model.member(b).energy_forces(x)[1] - f) ** 2)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "mb_quick_learning.json"))
    args = parser.parse_args(argv)
    config = replace(mb_al.ALConfig(seed=args.seed), **mb_al.QUICK)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        results = mb_al.run_study(config, folder, show_progress=False)
        run_s = time.perf_counter() - started
        test_x = mbs.boltzmann_samples(config.test_size, config.kT, np.random.default_rng([config.seed, 99]))
        test_e, test_f = mbs.label(test_x)
        data = {name: [np.load(Path(folder) / "points" / name / f"trial_{b:03d}.npz") for b in range(config.trials)]
                for name in config.samplers}
        initial = [(d["points"][:config.n_initial], d["energy"][:config.n_initial], d["forces"][:config.n_initial])
                   for d in data[config.samplers[0]]]
        model0 = mb_al.Trainer(config)(initial)           # the study's first training call: its initial models
        record = {"samplers": {}}
        for name, trials in data.items():
            kept = [(d["points"][~d["validation"]], d["energy"][~d["validation"]], d["forces"][~d["validation"]])
                    for d in trials]
            refit, epochs = converged_fit(*mb_al.padded(kept), config.training, seed=0, init=model0)
            rows = []
            for b, (x, _, f) in enumerate(kept):
                weights = np.load(Path(folder) / "models" / name / f"trial_{b:03d}.npz")
                run_model = MLPPotential(weights["W1"], weights["b1"], weights["w2"], weights["b2"],
                                         lam=float(weights["lam"]), center=weights["center"])
                nearest = mbs.nearest_minimum_fractions(x[config.n_initial:])
                rows.append({"trial": b, "labels": len(x), "share_nearest_A": nearest["A"],
                             "initial_test_force_rmse": force_rmse(model0, b, test_x, test_f),
                             "as_run": {"train_force_rmse": force_rmse(run_model, 0, x, f),
                                        "test_force_rmse": force_rmse(run_model, 0, test_x, test_f)},
                             "converged": {"train_force_rmse": force_rmse(refit, b, x, f),
                                           "test_force_rmse": force_rmse(refit, b, test_x, test_f)}})
            record["samplers"][name] = {"epochs_to_converge": epochs, "trials": rows}
    record.update({"protocol": __doc__.split("diagnostic separates them, with the protocol fixed before it ran:")[1]
                   .split("If the refits")[0].strip(), "seed": args.seed, "quick_settings": results["config"],
                   "run_s": run_s, "total_s": time.perf_counter() - started, "skmd": skmd.__version__,
                   "commit": source_commit(Path(__file__).parent), "machine": machine_info()})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1))
    for name, entry in record["samplers"].items():
        median = lambda key, part=None: np.median([r[part][key] if part else r[key] for r in entry["trials"]])  # noqa: E731
        print(f"{name:8s} initial {median('initial_test_force_rmse'):6.1f} | as run: train "
              f"{median('train_force_rmse', 'as_run'):6.1f} test {median('test_force_rmse', 'as_run'):6.1f} | "
              f"converged: train {median('train_force_rmse', 'converged'):6.1f} test "
              f"{median('test_force_rmse', 'converged'):6.1f} | labels nearest A "
              f"{100 * np.mean([r['share_nearest_A'] for r in entry['trials']]):.0f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
import torch

import skmd
from skmd.modules import nn
from skmd.modules.potentials import MLPPotential
from skmd.studies import mb_al
from skmd.studies import mueller_brown as mbs
from skmd.tools.machine import machine_info, source_commit

WINDOW, MIN_FALL, LR, FLOOR, CAP = 100, 0.01, 0.01, 64, 20_000


def converged_fit(points, energies, forces, mask, config, seed, init=None):
    """The models of :func:`skmd.modules.nn.train_mlps`, trained until the loss stops falling (the module's
    schedule). Returns (MLPPotential, epochs)."""
    G, n, _ = points.shape
    center = np.asarray(config.center, float)
    quartic_e, quartic_f = nn._quartic(points, config.lam, center)
    target_e, target_f = energies - quartic_e, forces - quartic_f
    counts = np.maximum(mask.sum(axis=1), 1.0)
    mean = (target_e * mask).sum(axis=1) / counts
    scale = np.maximum(np.sqrt(((target_e - mean[:, None]) ** 2 * mask).sum(axis=1) / counts), 1.0)
    t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64)  # noqa: E731
    X, M = t(points), t(mask / counts[:, None])
    TE, TF = t((target_e - mean[:, None]) / scale[:, None]), t(target_f / scale[:, None, None])
    params = [t(init.W1[:, 0]), t(init.b1[:, 0]), t(init.w2[:, 0] / scale[:, None]), t((init.b2[:, 0] - mean) / scale)]
    params = [p.clone().requires_grad_(True) for p in params]
    optimizer, rate, best, epochs = torch.optim.Adam(params, lr=LR), LR, np.inf, 0
    while epochs < CAP:
        optimizer.zero_grad()
        loss = nn._loss(params, X, M, TE, TF, config)          # the study's own loss (analytic dE/dx)
        loss.backward()
        optimizer.step()
        epochs += 1
        if epochs % WINDOW == 0:
            value = float(loss.detach())
            if value < best * (1 - MIN_FALL):
                best = value
                continue
            rate /= 2
            if rate < LR / FLOOR:
                break
            for group in optimizer.param_groups:
                group["lr"] = rate
    W1, b1, w2, b2 = (p.detach().numpy() for p in params)
    return MLPPotential(W1[:, None], b1[:, None], (w2 * scale[:, None])[:, None], (b2 * scale + mean)[:, None],
                        lam=config.lam, center=center), epochs


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

"""Cost of one uncertainty-biased MD step against one unbiased step of the same MACE model (issue #9).

For alanine dipeptide (22 atoms, a molecule) and a periodic 64-atom silicon cell, with a 32-channel,
2-layer MACE (the paper's surrogate size), this times, interleaved within one run:

- ``unbiased``: energy and forces (and stress for the cell) from mace's own ``MACECalculator``;
- ``biased``: :class:`~skmd.uncertainty.UncertaintyBias` on :class:`~skmd.uncertainty.GradientUncertainty`
  (K = 512): energy, forces, stress, u, atomic u, bias forces and bias stress, from one model pass;
- ``ensemble_biased``: the same bias on a 4-member :class:`~skmd.uncertainty.EnsembleUncertainty`.

Every call sees new positions (a fresh small rattle), so nothing is cached. Reported: median seconds
per step and the ratios to the unbiased step. Test RMSEs of the two uncertainty flavours need trained
models and come from the active-learning loop, not from here.

Writes benchmarks/results/ubmd_cost.json. Run: .venv/bin/python benchmarks/ubmd_cost.py
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from ase.build import bulk
from mace.calculators import MACECalculator

from skmd.atoms.alanine import alanine_dipeptide
from skmd.atoms.mace_models import build_mace
from skmd.tools.machine import machine_info
from skmd.uncertainty import EnsembleUncertainty, GradientUncertainty, UncertaintyBias

REPEATS, N_FEATURES, N_MEMBERS = 30, 512, 4


def rattled(atoms, amount, rng):
    copy = atoms.copy()
    copy.positions += amount * rng.standard_normal(copy.positions.shape)
    return copy


def systems():
    """(name, template Atoms, atomic numbers of its model)."""
    silicon = bulk("Si", "diamond", a=5.43, cubic=True) * (2, 2, 2)
    return [("alanine_dipeptide", alanine_dipeptide(), (1, 6, 7, 8)), ("silicon_64", silicon, (14,))]


def step_seconds(calc, atoms, periodic: bool) -> float:
    """Wall time of one step's calculator work: energy, forces (and stress) at new positions."""
    atoms.calc = calc
    started = time.perf_counter()
    atoms.get_potential_energy()
    atoms.get_forces()
    if periodic:
        atoms.get_stress()
    return time.perf_counter() - started


def benchmark(name, template, numbers, rng) -> dict:
    models = [build_mace(channels=32, max_L=1, num_interactions=2, atomic_numbers=numbers, seed=s)
              for s in range(N_MEMBERS)]
    periodic = bool(template.pbc.all())
    source = GradientUncertainty(models[0], n_features=N_FEATURES, seed=0)
    source.add_training([rattled(template, 0.05, rng) for _ in range(8)])
    calcs = {"unbiased": MACECalculator(models=models[0], default_dtype="float64"),
             "biased": UncertaintyBias(source, tau=0.2, window=10),
             "ensemble_biased": UncertaintyBias(EnsembleUncertainty(models), tau=0.2, window=10)}
    times = {key: [] for key in calcs}
    for key, calc in calcs.items():  # warm-up (TorchScript, caches)
        step_seconds(calc, rattled(template, 0.02, rng), periodic)
    for _ in range(REPEATS):
        for key, calc in calcs.items():
            times[key].append(step_seconds(calc, rattled(template, 0.02, rng), periodic))
    medians = {key: float(np.median(values)) for key, values in times.items()}
    return {"system": name, "n_atoms": len(template), "periodic": periodic, "repeats": REPEATS,
            "median_step_s": medians,
            "ratio_biased_to_unbiased": medians["biased"] / medians["unbiased"],
            "ratio_ensemble_biased_to_unbiased": medians["ensemble_biased"] / medians["unbiased"],
            "ratio_ensemble_to_gradient_biased": medians["ensemble_biased"] / medians["biased"]}


def main(out="benchmarks/results/ubmd_cost.json"):
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    machine_before = machine_info()
    results = [benchmark(name, template, numbers, rng) for name, template, numbers in systems()]
    record = {"benchmark": "ubmd_cost", "model": "MACE, 32 channels, max_L=1, 2 interactions, float64",
              "n_features": N_FEATURES, "ensemble_members": N_MEMBERS, "results": results,
              "machine_before": machine_before, "machine_after": machine_info(),
              "note": "test RMSEs of the two uncertainty flavours need trained models: see the ubmd loop"}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(record, indent=2) + "\n")
    for row in results:
        print(f"{row['system']:>18}: unbiased {row['median_step_s']['unbiased'] * 1e3:.1f} ms, "
              f"biased x{row['ratio_biased_to_unbiased']:.2f}, "
              f"4-ensemble biased x{row['ratio_ensemble_biased_to_unbiased']:.2f}")
    return record


if __name__ == "__main__":
    main(*sys.argv[1:])

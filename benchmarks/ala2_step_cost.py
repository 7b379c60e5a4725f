"""Cost of an atomistic SKMD step against a plain Brownian step with the same MACE model (issue #4).

Both samplers use one MACEDescriptorCalculator on a 32-channel, 2-layer MACE (the paper's
surrogate size, M = 64 descriptor features) and alanine dipeptide (22 atoms, D = 66), an ensemble
of N = 30 particles and 500 steps per move. Moves of the two samplers alternate within this one
run, and only the stepping is timed; the descriptor Jacobian of a newly frozen particle (once per
move) is timed separately and reported per frozen particle.

Writes benchmarks/results/ala2_step_cost.json. Run: .venv/bin/python benchmarks/ala2_step_cost.py
"""
from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

from skmd.atoms.alanine import alanine_dipeptide
from skmd.atoms.calculator import MACEDescriptorCalculator
from skmd.atoms.dynamics import AtomsSKMD, BrownianDynamics
from skmd.atoms.mace_models import build_mace
from skmd.tools.machine import machine_info

N_PARTICLES, STEPS, ROUNDS = 30, 500, 3


def ensemble(n, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        atoms = alanine_dipeptide()
        atoms.positions += 0.03 * rng.standard_normal(atoms.positions.shape)
        frames.append(atoms)
    return frames


def timed_move(sampler, particle, move):
    started = time.perf_counter()
    end = sampler._propagate(particle, move, sampler._rng(move, 0))
    assert end is not None, "the benchmark move diverged"
    return (time.perf_counter() - started) / sampler.steps


def main(out="benchmarks/results/ala2_step_cost.json"):
    torch.set_num_threads(2)
    model = build_mace(channels=32, max_L=0, num_interactions=2, seed=0)
    calculator = MACEDescriptorCalculator(model)
    frames = ensemble(N_PARTICLES)
    brownian = BrownianDynamics(frames, calculator, temperature_K=50.0, timestep=0.1, friction=75.0, steps=STEPS)
    started = time.perf_counter()
    skmd = AtomsSKMD(frames, calculator, amplitude=20.0, temperature_K=50.0, timestep=0.1, friction=75.0,
                     steps=STEPS, backend="numpy")
    jacobian_s = (time.perf_counter() - started) / N_PARTICLES
    skmd._h, skmd._ell = skmd.kernel_parameters(0, 1)
    brownian_s, skmd_s = [], []
    for move in range(ROUNDS):
        brownian_s.append(timed_move(brownian, move, move))
        skmd_s.append(timed_move(skmd, move, move))
    per_step = {"brownian_s": float(np.median(brownian_s)), "skmd_s": float(np.median(skmd_s))}
    ratio = per_step["skmd_s"] / per_step["brownian_s"]
    amortised = (per_step["skmd_s"] * STEPS + jacobian_s) / (per_step["brownian_s"] * STEPS)
    result = {"model": "MACE 32x0e, 2 interactions, float64", "atoms": 22, "descriptor_features": 64,
              "n_particles": N_PARTICLES, "steps_per_move": STEPS, "rounds": ROUNDS, "torch_threads": 2,
              "step_s": per_step, "skmd_over_brownian_step": ratio, "target_ratio": 1.1,
              "meets_target": bool(ratio <= 1.1),
              "jacobian_s_per_frozen_particle": jacobian_s,
              "skmd_over_brownian_per_move_with_jacobian": amortised,
              "model_calls_per_step": {"brownian": 1, "skmd": 1},
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "machine": machine_info()}  # CPU model, thread counts, load average over the run
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(*sys.argv[1:])

"""Cost of an atomistic SKMD step against a plain Brownian step with the same MACE model (issue #4, #8).

Both walks go through the engine's calculator seam: the SKMD walk runs Brownian dynamics on a
:class:`~skmd.atoms.SteinBias` wrapping the MACE calculator (built by the :class:`~skmd.atoms.Stein`
factory of a :class:`~skmd.atoms.RoundRobin` driver), the Brownian walk runs the same integrator
on the bare calculator (:class:`~skmd.atoms.IndependentWalkers`). Model: a 32-channel, 2-layer
MACE (the paper's surrogate size, M = 64 descriptor features); system: alanine dipeptide (22 atoms,
D = 66); N = 30 particles, 500 steps per walk. Walks of the two drivers alternate within this one
run and only the walks are timed; freezing a particle (its forces and descriptor Jacobian, once
per accepted move) is timed separately and reported per frozen particle. Model calls per step are
counted on the calculator.

Writes benchmarks/results/ala2_step_cost.json. Run: .venv/bin/python benchmarks/ala2_step_cost.py
"""
from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from skmd.atoms import Brownian, GaussianKernel, IndependentWalkers, MACEDescriptorCalculator, RoundRobin, Stein
from skmd.atoms.alanine import rattled_ensemble
from skmd.atoms.mace_models import build_mace
from skmd.tools.machine import machine_info
from skmd.tools.threads import set_threads

N_PARTICLES, STEPS, ROUNDS, THREADS = 30, 500, 3, 2


def timed_walk(driver, calculator, particle, move):
    """Seconds per step and model calls per step of one walk of ``driver`` under ``calculator``."""
    counter = driver.calculator
    calls = counter.calls
    started = time.perf_counter()
    walk = driver.walk(particle, move, calculator)
    elapsed = time.perf_counter() - started
    assert walk is not None, "the benchmark walk diverged"
    return elapsed / STEPS, (counter.calls - calls) / STEPS


def main(out="benchmarks/results/ala2_step_cost.json"):
    set_threads(THREADS)
    model = build_mace(channels=32, max_L=0, num_interactions=2, seed=0)
    frames = rattled_ensemble(N_PARTICLES)
    integrator = Brownian(temperature_K=50.0, timestep_fs=0.1, friction=75.0)
    brownian = IndependentWalkers(frames, MACEDescriptorCalculator(model), integrator, steps=STEPS)
    started = time.perf_counter()
    skmd = RoundRobin(frames, MACEDescriptorCalculator(model), integrator, steps=STEPS,
                      bias=Stein(GaussianKernel(20.0, "median"), 50.0, backend="numpy"))
    freeze_s = (time.perf_counter() - started) / N_PARTICLES
    brownian_s, skmd_s, calls = [], [], {"brownian": [], "skmd": []}
    for move in range(ROUNDS):
        seconds, n_calls = timed_walk(brownian, brownian.calculator, move, move)
        brownian_s.append(seconds)
        calls["brownian"].append(n_calls)
        bias = skmd.bias.build(skmd.calculator, skmd.frozen, move, move)
        seconds, n_calls = timed_walk(skmd, bias, move, move)
        skmd_s.append(seconds)
        calls["skmd"].append(n_calls)
    per_step = {"brownian_s": float(np.median(brownian_s)), "skmd_s": float(np.median(skmd_s))}
    ratio = per_step["skmd_s"] / per_step["brownian_s"]
    amortised = (per_step["skmd_s"] * STEPS + freeze_s) / (per_step["brownian_s"] * STEPS)
    result = {"model": "MACE 32x0e, 2 interactions, float64", "atoms": 22, "descriptor_features": 64,
              "n_particles": N_PARTICLES, "steps_per_move": STEPS, "rounds": ROUNDS, "torch_threads": THREADS,
              "seam": "RoundRobin + Stein -> SteinBias(MACEDescriptorCalculator) vs IndependentWalkers, "
                      "both BrownianDynamics",
              "step_s": per_step, "skmd_over_brownian_step": ratio, "target_ratio": 1.1,
              "meets_target": bool(ratio <= 1.1),
              "freeze_s_per_particle": freeze_s,
              "skmd_over_brownian_per_move_with_freeze": amortised,
              "model_calls_per_step": {name: float(np.max(n)) for name, n in calls.items()},  # (steps + 1) / steps
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "machine": machine_info()}  # CPU model, thread counts, load average over the run
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(*sys.argv[1:])

"""Cost of the atomistic engine (issue #8): the seam's overhead, float32 sampling, parallel samplers.

(a) An SKMD step through the seam (RoundRobin + Stein + Brownian) against a plain Brownian step
    (IndependentWalkers) with the same 32-channel, 2-layer MACE on alanine dipeptide, N = 10.
    Moves of the two alternate in this one run; a timing observer inside each walk times the
    steps only, and counts the model calls per step (``MACEDescriptorCalculator.calls``). The
    whole move (bias build, walk, freezing the accepted member) is reported too.
(b) float32 against float64 sampling: plain Brownian steps, alternating, and the largest force
    difference on the ensemble.
(c) The three samplers of one iteration (SKMD, MD 300 K, MD 700 K) with ``run_samplers``: in this
    process, and on a ProcessPoolExecutor with 1 and 2 workers, 1 thread each (pools started and
    warmed before timing; their start-up is reported separately).

Run with ``OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python benchmarks/engine_cost.py``
(``--quick`` for a smoke run that writes engine_cost_quick.json; ``--rerun-c`` repeats part (c)
with the pools in the other order and adds it to the JSON, to show how much the load moves it).
"""
from __future__ import annotations

import json
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from skmd.atoms import (Brownian, GaussianKernel, IndependentWalkers, Langevin, MACEDescriptorCalculator, RoundRobin,
                        Stein, build_mace, save_mace)
from skmd.atoms.alanine import rattled_ensemble
from skmd.atoms.parallel import MACEFactory, SamplerSpec, run_samplers
from skmd.tools.machine import machine_info
from skmd.tools.threads import set_threads

QUICK = "--quick" in sys.argv
N_PARTICLES = 10
STEPS, REPEATS = (10, 2) if QUICK else (30, 6)
KERNEL = GaussianKernel(8.0, "median")
BROWNIAN = Brownian(temperature_K=50.0, timestep_fs=0.1, friction=75.0)


class StepClock:
    """Observer: wall time and model calls of the steps of each walk (the first step is not counted)."""

    def __init__(self, calculator, steps):
        self.calculator, self.max_steps = calculator, steps
        self.step_seconds, self.calls_per_step = [], []

    def start(self, walk):
        self._first = None

    def __call__(self, walk):
        now = (time.perf_counter(), self.calculator.calls, walk.step)
        if self._first is None:
            self._first = now
        elif walk.step == self.max_steps:
            self.step_seconds.append((now[0] - self._first[0]) / (now[2] - self._first[2]))
            self.calls_per_step.append((now[1] - self._first[1]) / (now[2] - self._first[2]))
            walk.acquire("end point")


def seam_overhead(model) -> dict:
    """(a): SKMD steps through the seam against plain Brownian steps, alternating moves."""
    members = rattled_ensemble(N_PARTICLES)
    skmd_calc, plain_calc = MACEDescriptorCalculator(model), MACEDescriptorCalculator(model)
    skmd_clock, plain_clock = StepClock(skmd_calc, STEPS), StepClock(plain_calc, STEPS)
    started = time.perf_counter()
    skmd = RoundRobin(members, skmd_calc, BROWNIAN, bias=Stein(KERNEL, 50.0), acquisition=skmd_clock, seed=0)
    freeze_all = time.perf_counter() - started
    plain = IndependentWalkers(members, plain_calc, BROWNIAN, acquisition=plain_clock, seed=0)
    skmd_moves, plain_moves = [], []
    for _ in range(REPEATS):
        for driver, moves in ((skmd, skmd_moves), (plain, plain_moves)):
            started = time.perf_counter()
            assert len(driver.run(1)) == 1, "a benchmark move diverged"
            moves.append(time.perf_counter() - started)
    ratios = np.array(skmd_clock.step_seconds) / np.array(plain_clock.step_seconds)
    return {"n_particles": N_PARTICLES, "steps_per_move": STEPS, "repeats": REPEATS,
            "skmd_step_ms_median": 1e3 * float(np.median(skmd_clock.step_seconds)),
            "brownian_step_ms_median": 1e3 * float(np.median(plain_clock.step_seconds)),
            "step_ratio_median": float(np.median(ratios)), "step_ratio_per_repeat": ratios.round(4).tolist(),
            "model_calls_per_skmd_step": float(np.mean(skmd_clock.calls_per_step)),
            "model_calls_per_brownian_step": float(np.mean(plain_clock.calls_per_step)),
            "skmd_move_s_median": float(np.median(skmd_moves)), "brownian_move_s_median": float(np.median(plain_moves)),
            "move_ratio_median": float(np.median(np.array(skmd_moves) / np.array(plain_moves))),
            "initial_freeze_s_per_member": freeze_all / N_PARTICLES}


def float32_sampling(model) -> dict:
    """(b): float32 against float64 Brownian steps, alternating, and their force difference."""
    members = rattled_ensemble(N_PARTICLES)
    results = {}
    for dtype in ("float64", "float32"):
        calculator = MACEDescriptorCalculator(model, dtype=dtype)
        clock = StepClock(calculator, STEPS)
        results[dtype] = (calculator, clock, IndependentWalkers(members, calculator, BROWNIAN, acquisition=clock,
                                                                seed=0))
    for _ in range(REPEATS):
        for _, _, driver in results.values():
            driver.run(1)
    forces = {}
    for dtype, (calculator, _, _) in results.items():
        forces[dtype] = []
        for frame in members:
            atoms = frame.copy()
            atoms.calc = calculator
            forces[dtype].append(atoms.get_forces())
    difference = np.abs(np.array(forces["float32"]) - np.array(forces["float64"]))
    seconds = {dtype: np.array(clock.step_seconds) for dtype, (_, clock, _) in results.items()}
    return {"float64_step_ms_median": 1e3 * float(np.median(seconds["float64"])),
            "float32_step_ms_median": 1e3 * float(np.median(seconds["float32"])),
            "speedup_median": float(np.median(seconds["float64"] / seconds["float32"])),
            "max_force_difference_eV_per_A": float(difference.max()),
            "max_force_eV_per_A": float(np.abs(forces["float64"]).max())}


def iteration_specs():
    """SKMD moves are short (each also freezes a member: a descriptor Jacobian); MD walks are longer."""
    moves, skmd_steps, md_steps = (3, 5, 10) if QUICK else (6, 20, 60)
    return [SamplerSpec("skmd", "round_robin", BROWNIAN, n_moves=moves, steps=skmd_steps,
                        bias=Stein(KERNEL, 50.0), seed=1),
            SamplerSpec("md_300K", "independent", Langevin(300.0, 0.5), n_moves=moves, steps=md_steps, seed=1),
            SamplerSpec("md_700K", "independent", Langevin(700.0, 0.5), n_moves=moves, steps=md_steps, seed=1)]


def _warm(_):
    import skmd.atoms.calculator  # noqa: F401,PLC0415  (torch and mace imported in the worker)
    return True


def parallel_samplers(model, order=(1, 2)) -> dict:
    """(c): run_samplers here, then on warmed-up pools of ``order`` workers (1 thread each)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.safetensors"
        save_mace(model, path)
        factory = MACEFactory(str(path))
        members = rattled_ensemble(N_PARTICLES)
        started = time.perf_counter()
        serial = run_samplers(iteration_specs(), members, factory, threads=1)
        report = {"samplers": {spec.name: {"moves": spec.n_moves, "steps_per_move": spec.steps}
                               for spec in iteration_specs()},
                  "serial_s": time.perf_counter() - started, "order": ["serial", *order]}
        for workers in order:
            started = time.perf_counter()
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                list(pool.map(_warm, range(workers)))
                report[f"pool_start_s_{workers}_workers"] = time.perf_counter() - started
                started = time.perf_counter()
                result = run_samplers(iteration_specs(), members, factory, executor=pool, threads=1)
                report[f"wall_s_{workers}_workers"] = time.perf_counter() - started
            for name, value in serial.items():
                assert all(np.array_equal(a.positions, b.positions)
                           for a, b in zip(value["candidates"], result[name]["candidates"])), name
    report["ratio_2_workers_to_serial"] = report["wall_s_2_workers"] / report["serial_s"]
    report["ratio_2_workers_to_1_worker"] = report["wall_s_2_workers"] / report["wall_s_1_workers"]
    report["same_candidates_on_every_executor"] = True
    return report


def rerun_parallel(out: Path) -> None:
    """``--rerun-c``: part (c) again, the pools in the other order, added to an existing JSON."""
    report = json.loads(out.read_text())
    report["c_parallel_samplers_rerun"] = {"machine_before": machine_info(),
                                           **parallel_samplers(build_mace(channels=32, seed=0), order=(2, 1)),
                                           "machine_after": machine_info()}
    print(json.dumps(report["c_parallel_samplers_rerun"]), flush=True)
    out.write_text(json.dumps(report, indent=2) + "\n")


def main():
    set_threads(1)
    out = Path("benchmarks/results") / ("engine_cost_quick.json" if QUICK else "engine_cost.json")
    if "--rerun-c" in sys.argv:
        return rerun_parallel(out)
    model = build_mace(channels=32, seed=0)
    report = {"machine_before": machine_info(), "model": "build_mace(channels=32): 2 layers, max_L=1, M=64",
              "system": "alanine dipeptide (22 atoms)", "threads_per_process": 1}
    for name, part in (("a_seam_overhead", seam_overhead), ("b_float32", float32_sampling),
                       ("c_parallel_samplers", parallel_samplers)):
        started = time.perf_counter()
        report[name] = part(model)
        print(name, f"{time.perf_counter() - started:.1f} s", json.dumps(report[name]), flush=True)
    report["machine_after"] = machine_info()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()

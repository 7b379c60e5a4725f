"""Epoch time of a campaign's training (``mace_run_train`` through skmd) on 1 thread against 2.

A surrogate of the campaign's default size (32 channels, L = 0, 2 layers, r_max 5 Å) is trained from
scratch on 24 EMT-labelled 32-atom Cu cells (rattled 0.05 Å) with the stress loss, as ``skmd al`` does
for a periodic system, once with ``threads=1`` and once with ``threads=2``, in alternating order. The
epoch time is the median gap between mace's consecutive epoch log lines; the thread count mace
trained on is read from the line skmd writes at the top of its log.

Writes benchmarks/results/training_threads.json. Run: .venv/bin/python benchmarks/training_threads.py
"""
from __future__ import annotations

import argparse
import json
import re
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT

from skmd.atoms.oracle import write_extxyz
from skmd.atoms.training import SurrogateSettings, train_surrogate
from skmd.tools.labels import ENERGY_KEY, FORCES_KEY, STRESS_KEY
from skmd.tools.machine import machine_info, source_commit

EPOCH_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) INFO: Epoch (\d+):")
THREADS_LINE = re.compile(r"skmd: mace_run_train on (\d+) torch threads")


def labelled_cells(n: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
        atoms.positions += 0.05 * rng.standard_normal(atoms.positions.shape)
        atoms.calc = EMT()
        atoms.info[ENERGY_KEY] = float(atoms.get_potential_energy())
        atoms.info[STRESS_KEY] = atoms.get_stress(voigt=True)
        atoms.arrays[FORCES_KEY] = atoms.get_forces()
        atoms.calc = None
        frames.append(atoms)
    return frames


def epoch_seconds(work_dir: Path) -> tuple[float, int]:
    """Median seconds between consecutive epoch lines of mace's log, and the threads skmd's line names."""
    log = next(work_dir.glob("logs/*.log"))
    stamps = [datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f") for m in
              (EPOCH_LINE.match(line) for line in log.read_text().splitlines()) if m]
    gaps = [(b - a).total_seconds() for a, b in zip(stamps, stamps[1:])]
    threads = THREADS_LINE.search(next(work_dir.glob("*.stdout")).read_text())
    return float(np.median(gaps)), int(threads.group(1)) if threads else -1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--out", default="benchmarks/results/training_threads.json")
    args = parser.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "train.extxyz"
        write_extxyz(data, labelled_cells(args.frames))
        settings = SurrogateSettings(epochs=args.epochs, stress_weight=100.0)
        for threads in (1, 2, 2, 1):
            work = Path(folder) / f"run{len(runs)}"
            train_surrogate(data, work, {29: 0.0}, settings, threads=threads)
            seconds, reported = epoch_seconds(work)
            runs.append({"threads": threads, "epoch_s": seconds, "threads_reported_by_training": reported})
            print(runs[-1])
    by_threads = {t: float(np.median([r["epoch_s"] for r in runs if r["threads"] == t])) for t in (1, 2)}
    result = {"system": f"{args.frames} EMT-labelled 32-atom Cu cells, stress loss, batch 10",
              "model": "ScaleShiftMACE 32x0e, 2 interactions, r_max 5 A, float64", "epochs": args.epochs,
              "runs": runs, "epoch_s": by_threads, "speedup_2_over_1": by_threads[1] / by_threads[2],
              "commit": source_commit(Path(__file__).parent), "machine": machine_info()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()

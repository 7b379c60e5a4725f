"""Pilot: which weights should UB-MD's gradient features cover, ``"readout"`` or ``"readout+interactions"``?

Data. 105 copies of alanine dipeptide (C7eq) with Gaussian displacements of 0.1 Å (seeded), labelled by
GFN2-xTB: the first 80 train a 32-channel, 2-layer MACE from scratch (``train_surrogate``, 60 epochs,
the campaign defaults) and are the posterior's training set; the other 25 calibrate. Held out: the shipped
test set ``python/skmd/data/ala2_testset.extxyz`` (300 frames in four basins, GFN2-xTB labels). Both
options use the same model, K = 512, σ = 0.01, seed 0, and α = 0.1 (``CampaignConfig.ubmd_alpha``).

Quantities. The calibration's residual is the per-atom force RMSE over the three components
(:func:`skmd.uncertainty.calibration.force_residuals`) against the calibrated atomic u_i, so coverage is
counted per atom. A frame's calibrated u is max_i u_i (what UB-MD thresholds) and its true error is
max_i of the per-atom force RMSE.

Rule (written before the pilot was run):
(a) an option passes if its held-out atomic coverage (fraction of test atoms with force RMSE ≤ u_i) is
    ≥ 1 − α − 0.05 = 0.85;
(b) among the options that pass, the one with the higher Spearman rank correlation between the frames'
    calibrated u and their true error wins, unless the two bootstrap 95 % intervals (2000 resamples of
    the 300 frames, percentile, seed 0) overlap; then the smaller mean calibrated atomic u over all
    test atoms (sharper) wins, unless the two means differ by less than 5 % (relative to the smaller);
    then ``"readout"`` (cheaper) is kept. If neither passes (a), ``"readout"`` is kept too.
Reported besides (not used by the rule): the per-frame coverage (frame force RMSE ≤ max_i u_i), the
Spearman correlation of the structure u with |ΔE|/N, and the seconds per frame of the features alone and
of one UB-MD evaluation (energy, forces, u, atomic u and ∂u/∂x), median over the first 60 test frames with
the two options interleaved frame by frame.

Writes benchmarks/results/ubmd_features_pilot.json. Run:
PYTHONPATH=python .venv/bin/python benchmarks/ubmd_features_pilot.py [work_dir]
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.io import read, write
from scipy.stats import spearmanr

from skmd.al.start import perturbed_copies
from skmd.atoms.alanine import alanine_dipeptide
from skmd.atoms.mace_models import load_mace
from skmd.atoms.oracle import gfn2_xtb
from skmd.atoms.training import SurrogateSettings, isolated_atom_energies, train_surrogate
from skmd.tools.labels import ENERGY_KEY, FORCES_KEY, reference_labels
from skmd.tools.machine import machine_info
from skmd.uncertainty import GradientUncertainty
from skmd.uncertainty.calibration import energy_residuals, force_residuals
from skmd.uncertainty.feature_layers import FEATURE_LAYERS

N_TRAIN, N_CALIBRATION, ALPHA, N_FEATURES, EPOCHS, N_BOOT, SEED = 80, 25, 0.1, 512, 60, 2000, 0
N_TIMED = 60
TEST_SET = Path(__file__).resolve().parents[1] / "python" / "skmd" / "data" / "ala2_testset.extxyz"
OUT = Path(__file__).resolve().parent / "results" / "ubmd_features_pilot.json"


def labelled_frames() -> list:
    frames = perturbed_copies([alanine_dipeptide()], N_TRAIN + N_CALIBRATION, displacement_A=0.1, strain=0.0,
                              seed=SEED)
    for atoms in frames:
        atoms.calc = gfn2_xtb()
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = None
        atoms.info[ENERGY_KEY], atoms.arrays[FORCES_KEY] = float(energy), np.array(forces)
    return frames


def train(frames, work: Path) -> Path:
    """The surrogate in ``work`` (reused when a previous run of the pilot left it there)."""
    if (work / "model" / "surrogate.safetensors").is_file():
        return work / "model" / "surrogate.safetensors"
    write(work / "train.extxyz", frames, format="extxyz")
    e0s = isolated_atom_energies(gfn2_xtb, frames[0].numbers)
    return train_surrogate(work / "train.extxyz", work / "model", e0s, SurrogateSettings(epochs=EPOCHS), seed=SEED)


def bootstrap_interval(u, err, rng) -> list:
    values = []
    for _ in range(N_BOOT):
        pick = rng.integers(0, len(u), len(u))
        values.append(spearmanr(u[pick], err[pick]).statistic)
    return [float(np.nanpercentile(values, 2.5)), float(np.nanpercentile(values, 97.5))]


def fitted(model, layers, train_frames, calibration):
    gradient = GradientUncertainty(model, n_features=N_FEATURES, seed=SEED, layers=layers)
    gradient.add_training(train_frames)
    gradient.calibrate(calibration, alpha=ALPHA)
    return gradient


def timings(sources: dict, test) -> dict:
    """Median seconds per frame of the features alone and of one UB-MD evaluation, the options interleaved
    frame by frame (so a change in the machine's load hits both alike), over the first N_TIMED test frames."""
    seconds = {name: {"feature": [], "step": []} for name in sources}
    for atoms in test[:N_TIMED]:
        for name, gradient in sources.items():
            start = time.perf_counter()
            gradient.features.compute([atoms])
            seconds[name]["feature"].append(time.perf_counter() - start)
            start = time.perf_counter()
            gradient.raw(atoms, derivatives=True)
            seconds[name]["step"].append(time.perf_counter() - start)
    return {name: {"feature_seconds_per_frame": float(np.median(times["feature"])),
                   "ubmd_step_seconds_per_frame": float(np.median(times["step"]))} for name, times in seconds.items()}


def evaluate(gradient, test) -> dict:
    predicted = gradient.predict(test)
    energies, forces = zip(*[(label.energy, label.forces) for label in map(reference_labels, test)])
    atom_err = [force_residuals(f, ref) for f, ref in zip(predicted["forces"], forces)]
    atom_u = predicted["atomic_uncertainties"]
    frame_u, frame_err = np.array([u.max() for u in atom_u]), np.array([e.max() for e in atom_err])
    frame_rmse = np.array([np.sqrt(np.mean((f - ref) ** 2)) for f, ref in zip(predicted["forces"], forces)])
    e_res = energy_residuals(predicted["energies"], np.array(energies), [len(a) for a in test])
    return {"scales": {"structure_scale": gradient.structure_scale, "atomic_scale": gradient.atomic_scale},
            "atomic_coverage": float(np.mean(np.concatenate(atom_err) <= np.concatenate(atom_u))),
            "frame_coverage": float(np.mean(frame_rmse <= frame_u)),
            "spearman": float(spearmanr(frame_u, frame_err).statistic),
            "spearman_ci95": bootstrap_interval(frame_u, frame_err, np.random.default_rng(SEED)),
            "mean_atomic_u": float(np.mean(np.concatenate(atom_u))),
            "spearman_structure_u_energy": float(spearmanr(predicted["uncertainties"], e_res).statistic),
            "force_rmse": float(np.sqrt(np.mean(np.concatenate(atom_err) ** 2)))}


def decide(results: dict) -> tuple[str, str]:
    """The rule of the module docstring: (winner, why)."""
    passing = [name for name in FEATURE_LAYERS if results[name]["atomic_coverage"] >= 1 - ALPHA - 0.05]
    if len(passing) < 2:
        return (passing[0] if passing else "readout"), f"coverage (a): passing {passing}"
    first, second = sorted(passing, key=lambda name: -results[name]["spearman"])
    low_1, high_2 = results[first]["spearman_ci95"][0], results[second]["spearman_ci95"][1]
    if low_1 > high_2:
        return first, "higher Spearman, intervals disjoint (b)"
    sharp, blunt = sorted(passing, key=lambda name: results[name]["mean_atomic_u"])
    if results[blunt]["mean_atomic_u"] - results[sharp]["mean_atomic_u"] >= 0.05 * results[sharp]["mean_atomic_u"]:
        return sharp, "Spearman intervals overlap; smaller mean calibrated u (b)"
    return "readout", "Spearman intervals overlap and mean u within 5 %: the cheaper option"


def main(work: Path) -> dict:
    start = time.perf_counter()
    frames = labelled_frames()
    label_s = time.perf_counter() - start
    reused = (work / "model" / "surrogate.safetensors").is_file()
    model_path = train(frames[:N_TRAIN], work)
    train_s = time.perf_counter() - start - label_s
    model, test = load_mace(model_path), read(TEST_SET, index=":")
    sources = {name: fitted(model, name, frames[:N_TRAIN], frames[N_TRAIN:]) for name in FEATURE_LAYERS}
    cost = timings(sources, test)
    results = {name: {**evaluate(gradient, test), **cost[name]} for name, gradient in sources.items()}
    winner, why = decide(results)
    report = {"alpha": ALPHA, "n_features": N_FEATURES, "n_train": N_TRAIN, "n_calibration": N_CALIBRATION,
              "n_test": len(test), "epochs": EPOCHS, "seed": SEED, "options": results, "winner": winner,
              "why": why, "label_seconds": label_s, "train_seconds": None if reused else train_s, "model_reused": reused,
              "total_seconds": time.perf_counter() - start, "machine": machine_info()}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch:
        summary = main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(scratch))
    print(json.dumps({k: v for k, v in summary.items() if k != "machine"}, indent=2))

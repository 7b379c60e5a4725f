"""Checkpointed stages of ``skmd ubmd`` before the loop, and the model-side helpers of the loop.

Every stage writes its outputs atomically under the run directory and returns them unchanged when
rerun; every label goes through one :class:`~skmd.atoms.store.LabelStore`.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ...tools.rundir import check_config, make_run_directory, write_json
from .config import UBMDConfig, perturbed, starting_structure

#: Seed of the periodic test set: fixed, independent of --seed, so every run is judged on the same frames.
TEST_SEED = 20240


def split(frames, every: int) -> tuple[list, list]:
    """(training, calibration) frames: every ``every``-th frame calibrates, the others train."""
    return ([f for i, f in enumerate(frames) if i % every], [f for i, f in enumerate(frames) if i % every == 0])


class Stages:
    """One run directory: settings, label store, initial data, test set, models and uncertainties."""

    def __init__(self, config: UBMDConfig, out, calculator_factory=None, threads: int = 1, log=print,
                 retry_failed: bool = False):
        from ...atoms.oracle import Oracle, gfn2_xtb, oracle_name  # noqa: PLC0415
        from ...atoms.store import LabelStore  # noqa: PLC0415
        from ...tools.checks import positive_int  # noqa: PLC0415
        from .config import gfn1_xtb  # noqa: PLC0415
        self.config = config.validate()
        self.threads = positive_int("threads", threads)
        self.calculator_factory = calculator_factory or (gfn1_xtb if config.periodic else gfn2_xtb)
        if config.periodic:
            calc = self.calculator_factory()
            if "stress" not in getattr(calc, "implemented_properties", ()):
                raise ValueError(f"a periodic system needs stress labels; the oracle {type(calc).__name__} "
                                 "gives no stress")
        self.out = make_run_directory(out)
        check_config(self.out, config, {"oracle": oracle_name(self.calculator_factory)})
        self.store = LabelStore(self.out / "labels", Oracle(self.calculator_factory), retry_failed=retry_failed)
        self.log = log
        self._models = {}

    # ------------------------------------------------------------------ data
    def initial_data(self) -> list:
        """Oracle labels of the starting data: oracle Langevin MD in C7eq (molecule) or
        perturbed cells (periodic, Gaussian strains of 4% and displacements of 0.08 Å)."""
        from ...atoms.store import atomic_write_frames, read_frames  # noqa: PLC0415
        c = self.config
        path = self.out / "init" / "frames.extxyz"
        if not path.exists():
            atoms = starting_structure(c.system)
            if c.system == "ala2":
                from ..ala2.stages import oracle_md_frames  # noqa: PLC0415
                frames = oracle_md_frames(atoms, self.calculator_factory(), c.initial_temperature_K,
                                          c.initial_frames, 10, c.seed)
            else:
                frames = perturbed(atoms, c.initial_frames, 0.08, 0.04, c.seed)
            atomic_write_frames(path, frames)
        return self.store.label("init", read_frames(path))[0]

    def test_set(self) -> list:
        """The fixed test set: ``test_frames`` evenly spaced frames of the shipped alanine-dipeptide set,
        or, for the periodic system, perturbed cells (strains of 3%, displacements of 0.08 Å, seed
        ``TEST_SEED``) labelled before any sampler runs."""
        from ...atoms.store import atomic_write_frames, read_frames  # noqa: PLC0415
        c = self.config
        if c.system == "ala2":
            from ..ala2_testset import SHIPPED_TESTSET, load_testset  # noqa: PLC0415
            frames = load_testset(SHIPPED_TESTSET)
            picks = np.linspace(0, len(frames) - 1, min(c.test_frames, len(frames))).round().astype(int)
            return [frames[i] for i in picks]
        path = self.out / "test" / "frames.extxyz"
        if not path.exists():
            atomic_write_frames(path, perturbed(starting_structure(c.system), c.test_frames, 0.08, 0.03, TEST_SEED))
        return self.store.label("test", read_frames(path))[0]

    def e0s(self, numbers) -> dict:
        """Isolated-atom energies (eV) from the oracle, computed once."""
        from ...atoms.training import isolated_atom_energies  # noqa: PLC0415
        path = self.out / "init" / "e0s.json"
        if not path.exists():
            write_json(path, {str(z): e for z, e in isolated_atom_energies(self.calculator_factory, numbers).items()})
        return {int(z): e for z, e in json.loads(path.read_text()).items()}

    # ------------------------------------------------------------------ models
    def n_models(self) -> int:
        return self.config.ensemble_size if self.config.uncertainty == "ensemble" else 1

    def train(self, folder: Path, train_frames, base_models=None) -> list:
        """Train (``base_models`` None: from scratch) or fine-tune every model on ``train_frames``;
        returns the model paths, checkpointed as ``folder/model<m>.safetensors`` (skmd's safe format)."""
        from ...atoms.store import atomic_write_frames  # noqa: PLC0415
        from ...atoms.training import FinetuneSettings, SurrogateSettings, finetune, train_surrogate  # noqa: PLC0415
        c = self.config
        stress = c.stress_weight if c.periodic else 0.0
        paths = [folder / f"model{m}.safetensors" for m in range(self.n_models())]
        if all(p.is_file() for p in paths):
            return paths
        atomic_write_frames(folder / "train.extxyz", train_frames)
        for m, path in enumerate(paths):
            if path.is_file():
                continue
            work = folder / f"training{m}"
            if base_models is None:
                settings = SurrogateSettings(epochs=c.surrogate_epochs, valid_fraction=0.1, stress_weight=stress)
                trained = train_surrogate(folder / "train.extxyz", work, self.e0s(train_frames[0].numbers),
                                          settings, seed=c.seed + m, name="model")
            else:
                settings = FinetuneSettings(mode=c.finetune_mode, epochs=c.finetune_epochs,
                                            switch_epoch=max(1, c.finetune_epochs // 2), valid_fraction=0.1,
                                            stress_weight=stress, e0s=self.e0s(train_frames[0].numbers))
                trained = finetune(base_models[m], folder / "train.extxyz", work, settings, seed=c.seed + m,
                                   name="model")
            shutil.copyfile(trained, path.with_suffix(".tmp"))
            path.with_suffix(".tmp").replace(path)
        return paths

    def model(self, path):
        from ...atoms.mace_models import load_mace  # noqa: PLC0415
        if str(path) not in self._models:
            self._models[str(path)] = load_mace(path)
        return self._models[str(path)]

    def uncertainty(self, model_paths, train_frames, calibration_frames):
        """The calibrated uncertainty calculator of these models, and its gradient features for selection.

        Returns (calculator, GradientUncertainty of the first model with the training features)."""
        from ...uncertainty import EnsembleUncertainty, GradientUncertainty  # noqa: PLC0415
        c = self.config
        gradient = GradientUncertainty(self.model(model_paths[0]), n_features=c.n_features, sigma=c.sigma,
                                       seed=c.seed)
        gradient.add_training(train_frames)
        calculator = gradient if c.uncertainty == "gradient" else \
            EnsembleUncertainty([self.model(p) for p in model_paths])
        calculator.calibrate(calibration_frames, alpha=c.alpha)
        return calculator, gradient

    def frame_errors(self, model_paths, frames) -> dict:
        """Per test frame, the (mean) model's errors against the REF_ labels: ``energy`` (|error| per
        atom, meV/atom), ``forces`` (RMSE over the frame's components, meV/Å) and, for periodic
        frames, ``stress`` (RMSE over the 6 Voigt components, meV/Å³); each an (n_frames,) array."""
        from ...tools.labels import reference_labels  # noqa: PLC0415
        from ...uncertainty.graph import forward, gradients, is_periodic  # noqa: PLC0415
        errors = {"energy": [], "forces": [], "stress": []}
        for frame in frames:
            energy, forces, stress = 0.0, 0.0, 0.0
            for path in model_paths:
                run = forward(self.model(path), frame)
                d_pos, model_stress = gradients(run.energy, run, retain=False)
                energy, forces = energy + float(run.energy.detach()), forces - d_pos
                stress = stress + (model_stress if is_periodic(frame) else 0.0)
            n, label = len(model_paths), reference_labels(frame)
            errors["energy"].append(1e3 * abs(energy / n - label.energy) / len(frame))
            errors["forces"].append(1e3 * np.sqrt(np.mean(np.square(forces / n - label.forces))))
            if label.stress is not None:
                errors["stress"].append(1e3 * np.sqrt(np.mean(np.square(stress / n - label.stress))))
        return {key: np.asarray(values, float) for key, values in errors.items() if values}

    def errors(self, model_paths, frames) -> dict:
        """Test RMSEs of the (mean) model: energy (meV/atom), forces (meV/Å) and, for periodic
        frames, stress (meV/Å³), with the per-frame errors behind them (``per_frame``, lists as in
        :meth:`frame_errors`). Every frame of a system has the same atom count, so the RMSE over all
        components is the root mean square of the per-frame RMSEs."""
        per_frame = self.frame_errors(model_paths, frames)
        result = {f"{key}_rmse_{unit}": float(np.sqrt(np.mean(np.square(per_frame[name]))))
                  for name, key, unit in (("energy", "energy", "meV_atom"), ("forces", "force", "meV_A"),
                                          ("stress", "stress", "meV_A3")) if name in per_frame}
        return {**result, "per_frame": {name: values.tolist() for name, values in per_frame.items()}}

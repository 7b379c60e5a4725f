"""The checkpointed stages before the loop: surrogate model, starting ensemble, held-out test set.

Every stage writes its outputs atomically under the run directory and returns them unchanged
when rerun; labels go through a :class:`~skmd.atoms.store.LabelStore`.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ...tools.selection import furthest_point_sampling
from .config import Ala2Config
from ...tools.rundir import check_config, make_run_directory, write_json


class Stages:
    """One run directory of the study: models, and the stages before the active-learning loop.

    Args:
        config: the settings (validated here, before any file is written).
        out: the run directory.
        calculator_factory: the oracle, a picklable callable returning an ASE calculator
            (default GFN2-xTB through tblite).
        executor: a ``concurrent.futures.Executor`` for the samplers of an iteration and for
            labelling (None: in this process).
        surrogate: a MACE model file to start from instead of training one: skmd's safe format, or a
            pickled ``.model`` only with ``trust_model`` (reading a pickle runs any code it holds).
            It is copied into the run directory in the safe format; every later stage reads that copy.
        threads: torch/BLAS threads of each sampler task.
        log: a print-like function for progress lines.
        jobs: trainings (``mace_run_train`` processes) run side by side (``--workers``).
        trust_model: read ``surrogate`` even when it is a pickle (``--trust-model``).
    """

    def __init__(self, config: Ala2Config, out, calculator_factory=None, executor=None, surrogate=None,
                 threads: int = 1, log=print, jobs: int = 1, trust_model: bool = False, retry_failed: bool = False):
        from ...atoms.model_files import check_readable  # noqa: PLC0415
        from ...atoms.oracle import Oracle, gfn2_xtb, oracle_name  # noqa: PLC0415
        from ...atoms.store import LabelStore  # noqa: PLC0415
        from ...tools.checks import positive_int  # noqa: PLC0415
        self.config = config.validate()
        self.threads = positive_int("threads", threads)
        self.jobs = positive_int("jobs", jobs)
        self.surrogate_path = None if surrogate is None else check_readable(surrogate, trust_model, "surrogate model")
        self.trust_model = trust_model
        self.out = make_run_directory(out)
        self.calculator_factory = calculator_factory or gfn2_xtb
        check_config(self.out, config, {"oracle": oracle_name(self.calculator_factory)})
        self.executor = executor
        self.store = LabelStore(self.out / "labels", Oracle(self.calculator_factory, executor),
                                batch_size=config.label_batch, retry_failed=retry_failed)
        self.log = log
        self._models = {}

    # ------------------------------------------------------------------ models
    def model(self, path):
        from ...atoms.mace_models import load_mace  # noqa: PLC0415
        key = str(path)
        if key not in self._models:
            self._models[key] = load_mace(path)
        return self._models[key]

    def calculator(self, path):
        from ...atoms.calculator import MACEDescriptorCalculator  # noqa: PLC0415
        return MACEDescriptorCalculator(self.model(path))

    def descriptors(self, model_path, frames) -> np.ndarray:
        """Descriptors (n, M) of ``frames`` under the model at ``model_path``."""
        if not frames:
            return np.zeros((0, 0))
        descriptor = self.calculator(model_path).descriptor
        return np.stack([descriptor.compute(frame) for frame in frames])

    def relaxed(self, calculator):
        """C7eq relaxed with ``calculator`` (BFGS to 0.02 eV/Å), without a calculator attached."""
        from ase.optimize import BFGS  # noqa: PLC0415
        from ...atoms.alanine import alanine_dipeptide  # noqa: PLC0415
        atoms = alanine_dipeptide()
        atoms.calc = calculator
        BFGS(atoms, logfile=None).run(fmax=0.02, steps=500)
        atoms.calc = None
        distances = atoms.get_all_distances()
        closest = float(distances[np.triu_indices(len(atoms), 1)].min())
        if closest < 0.5:
            raise RuntimeError(f"relaxing C7eq with this model brought two atoms to {closest:.2f} Å: the model is too "
                               "poor to sample with (train the surrogate on more frames or epochs)")
        return atoms

    # ------------------------------------------------------------------ stages
    def surrogate(self) -> Path:
        """The starting model (safe format, in the run directory): the given one converted to
        ``surrogate/given.safetensors``, or one trained from scratch on oracle-labelled C7eq frames."""
        if self.surrogate_path is not None:
            from ...atoms.model_files import convert_model  # noqa: PLC0415
            return convert_model(self.surrogate_path, self.out / "surrogate" / "given.safetensors",
                                 trusted=self.trust_model)
        from ...atoms.store import atomic_write_frames, read_frames  # noqa: PLC0415
        from ...atoms.training import SurrogateSettings, isolated_atom_energies, train_surrogate  # noqa: PLC0415
        folder = self.out / "surrogate"
        final = folder / "surrogate.safetensors"
        if final.is_file():
            return final
        c = self.config
        frames_path = folder / "frames.extxyz"
        if not frames_path.exists():
            self.log("surrogate: oracle MD in the C7eq basin")
            atoms = self.relaxed(self.calculator_factory())
            frames = oracle_md_frames(atoms, self.calculator_factory(), c.surrogate_temperature,
                                      c.surrogate_frames, c.surrogate_stride, c.seed)
            atomic_write_frames(frames_path, frames)
        frames = read_frames(frames_path)
        labelled, _ = self.store.label("surrogate", frames)
        atomic_write_frames(folder / "train.extxyz", labelled)
        e0s_path = folder / "e0s.json"
        if not e0s_path.exists():
            e0s = isolated_atom_energies(self.calculator_factory, frames[0].numbers)
            write_json(e0s_path, {str(z): e for z, e in e0s.items()})
        e0s = {int(z): e for z, e in json.loads(e0s_path.read_text()).items()}
        self.log(f"surrogate: training a 32-channel MACE on {len(labelled)} frames")
        trained = train_surrogate(folder / "train.extxyz", folder / "training", e0s,
                                  SurrogateSettings(epochs=c.surrogate_epochs, valid_fraction=c.valid_fraction),
                                  seed=c.seed)
        shutil.copyfile(trained, final.with_suffix(".tmp"))
        final.with_suffix(".tmp").replace(final)
        return final

    def initial_ensemble(self, surrogate: Path) -> list:
        """N snapshots of surrogate Brownian dynamics (SKMD's T, Δt, γ) after a burn-in, from relaxed C7eq."""
        from ...atoms.drivers import IndependentWalkers  # noqa: PLC0415
        from ...atoms.store import atomic_write_frames, read_frames  # noqa: PLC0415
        path = self.out / "init" / "ensemble.extxyz"
        if path.exists():
            return read_frames(path)
        c = self.config
        calculator = self.calculator(surrogate)
        integrator = c.skmd_sampler().integrator()
        burn = IndependentWalkers([self.relaxed(calculator)], calculator, integrator, steps=c.burn_in, seed=c.seed)
        if not burn.run(1):
            raise RuntimeError("the burn-in diverged; check the surrogate model")
        walker = IndependentWalkers(burn.particles, calculator, integrator, steps=c.snapshot_interval,
                                    seed=c.seed + 1)
        snapshots = walker.run(c.n_particles)   # one walker: each snapshot continues from the last
        if len(snapshots) < c.n_particles:
            raise RuntimeError("Brownian dynamics on the surrogate diverged while taking the initial snapshots")
        atomic_write_frames(path, snapshots)
        return snapshots

    def test_set(self, surrogate: Path, ensemble) -> list:
        """The held-out test set: the labelled file ``config.testset`` if given (checked against
        ``config.testset_sha256``), else oracle-driven SKMD end points, furthest-point selected, labelled.

        The dynamics and the Stein force's forces use the oracle; the kernel uses the surrogate's
        descriptors.
        """
        from ...atoms.parallel import run_sampler  # noqa: PLC0415
        from ...atoms.store import atomic_write_frames, read_frames  # noqa: PLC0415
        if self.config.testset:
            from ..ala2_testset import load_testset  # noqa: PLC0415
            return load_testset(self.config.testset, self.config.testset_sha256 or None)
        folder = self.out / "test"
        final = folder / "test.extxyz"
        if final.exists():
            return read_frames(final)
        c = self.config
        candidates_path = folder / "candidates.extxyz"
        if not candidates_path.exists():
            self.log(f"test set: {c.test_candidates} oracle-driven SKMD moves")
            spec = c.skmd_sampler().spec(c.test_candidates, c.test_steps, seed=c.seed + 7,
                                         descriptor=self.calculator(surrogate).descriptor_for(ensemble[0]))
            result = run_sampler(spec, ensemble, self.calculator_factory, threads=self.threads)
            atomic_write_frames(candidates_path, result["candidates"])
        candidates = read_frames(candidates_path)
        if not candidates:
            raise RuntimeError("every oracle-driven SKMD move of the test set diverged; lower --amplitude")
        selected_path = folder / "selected.extxyz"
        if not selected_path.exists():
            picks = furthest_point_sampling(self.descriptors(surrogate, candidates), min(c.test_size, len(candidates)))
            atomic_write_frames(selected_path, [candidates[i] for i in picks])
        labelled, _ = self.store.label("test", read_frames(selected_path))
        atomic_write_frames(final, labelled)
        return labelled


    def committee(self, surrogate: Path) -> list:
        """The UDD committee's starting models: the surrogate and ``committee_size − 1`` more trained
        from scratch on the same frames with seeds ``seed + m`` (side by side on ``jobs`` threads)."""
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415
        from ...atoms.training import SurrogateSettings, train_surrogate  # noqa: PLC0415
        c, folder = self.config, self.out / "surrogate"
        if not (folder / "train.extxyz").is_file():
            raise ValueError("udd needs the surrogate's training frames: its committee members are trained on "
                             "them with other seeds; run without --surrogate, or leave udd out")
        e0s = {int(z): e for z, e in json.loads((folder / "e0s.json").read_text()).items()}

        def member(m: int) -> Path:
            final = folder / f"committee{m}.safetensors"
            if not final.is_file():
                settings = SurrogateSettings(epochs=c.surrogate_epochs, valid_fraction=c.valid_fraction)
                trained = train_surrogate(folder / "train.extxyz", folder / f"training{m}", e0s, settings,
                                          seed=c.seed + m, name=f"committee{m}")
                shutil.copyfile(trained, final.with_suffix(".tmp"))
                final.with_suffix(".tmp").replace(final)
            return final

        with ThreadPoolExecutor(self.jobs) as pool:
            return [surrogate, *pool.map(member, range(1, c.committee_size))]


def oracle_md_frames(atoms, calculator, temperature_K: float, n_frames: int, stride: int, seed: int) -> list:
    """Snapshots every ``stride`` fs of underdamped Langevin MD (1 fs, 0.1 ps damping) with ``calculator``."""
    from ...atoms.integrators import Langevin  # noqa: PLC0415
    atoms = atoms.copy()
    atoms.calc = calculator
    atoms.set_momenta(np.zeros((len(atoms), 3)))   # the factory draws Maxwell–Boltzmann momenta
    dynamics = Langevin(temperature_K, timestep_fs=1.0, damping_fs=100.0)(atoms, np.random.default_rng([seed, 99]))
    frames = []
    for _ in range(n_frames):
        dynamics.run(stride)
        frame = atoms.copy()
        frame.calc = None
        frames.append(frame)
    return frames

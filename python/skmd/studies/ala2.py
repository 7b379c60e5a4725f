"""``skmd ala2``: active learning and MACE fine-tuning on alanine dipeptide (paper §5.2, E.2, Fig. 3).

The oracle is any ASE calculator (default GFN2-xTB through tblite). The workflow, all under
``--out``:

1. ``surrogate/``: relax C7eq with the oracle, run oracle Langevin MD at 300 K in that basin,
   label the snapshots, train a 32-channel MACE from scratch with ``mace_run_train``.
2. ``init/``: relax C7eq with the surrogate, burn in with Brownian dynamics, take N snapshots:
   the starting ensemble of every sampler.
3. ``test/``: SKMD driven by the oracle (descriptors from the surrogate), furthest-point
   selection of the held-out test set, oracle labels.
4. For every sampler (SKMD at 50 K; underdamped Langevin MD at 300 K and 700 K) and iteration:
   round-robin sampling on the current model, furthest-point selection seeded with all earlier
   data, oracle labels, fine-tuning of the surrogate on all labels so far, RMSE on the test set.

Every stage writes its outputs atomically and is skipped when rerun, and labels go through a
:class:`~skmd.atoms.store.LabelStore`; so killing the run and rerunning the same command resumes
without losing labels or sending a configuration to the oracle twice.
"""
from __future__ import annotations

import importlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ..tools.checks import positive, positive_int
from ..tools.selection import furthest_point_sampling
from . import add_common_flags

SAMPLERS = ("skmd", "md300", "md700")


@dataclass
class Ala2Config:
    """Every setting of the study. Units: K, fs, eV, Å; friction in eV·fs/Å²."""

    iterations: int = 10
    n_particles: int = 30
    n_candidates: int = 300
    steps: int = 500
    n_select: int = 100
    samplers: tuple = SAMPLERS
    skmd_temperature: float = 50.0
    skmd_timestep: float = 0.1
    friction: float = 75.0
    amplitude: float = 8.0
    explore_fraction: float = 250 / 300
    md_timestep: float = 1.0
    md_damping: float = 100.0
    burn_in: int = 4000
    snapshot_interval: int = 200
    test_size: int = 300
    test_candidates: int = 600
    test_steps: int = 200
    surrogate_frames: int = 500
    surrogate_stride: int = 20
    surrogate_temperature: float = 300.0
    surrogate_epochs: int = 300
    finetune_mode: str = "lora"
    finetune_epochs: int = 100
    finetune_switch_epoch: int = 50
    valid_fraction: float = 0.1
    label_batch: int = 1
    seed: int = 0
    backend: str = "auto"

    def validate(self) -> "Ala2Config":
        for name in ("iterations", "n_particles", "n_candidates", "steps", "n_select", "burn_in",
                     "snapshot_interval", "test_size", "test_candidates", "test_steps", "surrogate_frames",
                     "surrogate_stride", "surrogate_epochs", "finetune_epochs", "label_batch"):
            positive_int(name, getattr(self, name))
        for name in ("skmd_temperature", "skmd_timestep", "friction", "md_timestep", "md_damping",
                     "surrogate_temperature"):
            positive(name, getattr(self, name))
        if self.n_particles < 2:
            raise ValueError("SKMD needs at least 2 particles")
        if self.n_select > self.n_candidates:
            raise ValueError(f"cannot select {self.n_select} of {self.n_candidates} candidates per iteration")
        if self.test_size > self.test_candidates:
            raise ValueError(f"cannot select {self.test_size} test configurations of {self.test_candidates}")
        unknown = set(self.samplers) - set(SAMPLERS)
        if unknown or not self.samplers:
            raise ValueError(f"unknown samplers {sorted(unknown)}; choose from {', '.join(SAMPLERS)}")
        if self.finetune_mode not in ("lora", "full"):
            raise ValueError(f"finetune_mode must be 'lora' or 'full', got {self.finetune_mode!r}")
        if not 0 < self.valid_fraction < 1:
            raise ValueError(f"valid_fraction must lie in (0, 1), got {self.valid_fraction}")
        self.finetune_settings()
        return self

    def finetune_settings(self):
        from ..atoms.training import FinetuneSettings  # noqa: PLC0415
        return FinetuneSettings(mode=self.finetune_mode, epochs=self.finetune_epochs,
                                switch_epoch=self.finetune_switch_epoch, valid_fraction=self.valid_fraction)


QUICK = dict(iterations=2, n_particles=6, n_candidates=16, steps=20, n_select=8, burn_in=200, snapshot_interval=20,
             test_size=16, test_candidates=24, test_steps=20, surrogate_frames=60, surrogate_stride=10,
             surrogate_epochs=15, finetune_epochs=6, finetune_switch_epoch=3, valid_fraction=0.25)


# --------------------------------------------------------------------------- small helpers
def load_factory(spec: str):
    """``"module:function"`` → the calculator factory it names (e.g. ``skmd.atoms.oracle:gfn2_xtb``)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"--calculator must look like 'module:function', got {spec!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot import the calculator factory {spec!r}: {error}") from error
    if not callable(factory):
        raise ValueError(f"{spec!r} is not callable")
    return factory


def _json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(type(value).__name__)


def _write_json(path, payload) -> None:
    from ..atoms.store import atomic_write_text  # noqa: PLC0415
    atomic_write_text(path, json.dumps(payload, indent=2, default=_json_default))


def _check_config(out: Path, config: Ala2Config) -> None:
    """Refuse to resume a run directory made with other settings."""
    path = out / "config.json"
    current = json.loads(json.dumps(asdict(config), default=_json_default))
    if path.exists():
        saved = json.loads(path.read_text())
        changed = sorted(key for key in current if key != "backend" and saved.get(key) != current[key])
        if changed:
            raise ValueError(f"{out} holds a run with other settings ({', '.join(changed)}); "
                             "rerun with the same settings to resume, or use a new --out")
    else:
        _write_json(path, current)


class Study:
    """One run directory of the alanine-dipeptide workflow (see the module docstring)."""

    def __init__(self, config: Ala2Config, out, calculator_factory=None, executor=None, surrogate=None,
                 log=print):
        from ..atoms.oracle import Oracle, gfn2_xtb  # noqa: PLC0415
        from ..atoms.store import LabelStore  # noqa: PLC0415
        self.config = config.validate()
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        _check_config(self.out, config)
        self.calculator_factory = calculator_factory or gfn2_xtb
        self.store = LabelStore(self.out / "labels", Oracle(self.calculator_factory, executor),
                                batch_size=config.label_batch)
        self.surrogate_path = None if surrogate is None else Path(surrogate)
        if self.surrogate_path is not None and not self.surrogate_path.is_file():
            raise ValueError(f"no surrogate model file at {self.surrogate_path}")
        self.log = log
        self._models = {}

    # ------------------------------------------------------------------ models
    def model(self, path):
        from ..atoms.mace_models import load_mace  # noqa: PLC0415
        key = str(path)
        if key not in self._models:
            self._models[key] = load_mace(path)
        return self._models[key]

    def calculator(self, path):
        from ..atoms.calculator import MACEDescriptorCalculator  # noqa: PLC0415
        return MACEDescriptorCalculator(self.model(path))

    def descriptors(self, model_path, frames) -> np.ndarray:
        calculator = self.calculator(model_path)
        return np.stack([calculator.descriptor_for(f).compute(f.positions) for f in frames]) if frames else \
            np.zeros((0, 0))

    # ------------------------------------------------------------------ stages
    def relaxed(self, calculator):
        from ase.optimize import BFGS  # noqa: PLC0415
        from ..atoms.alanine import alanine_dipeptide  # noqa: PLC0415
        atoms = alanine_dipeptide()
        atoms.calc = calculator
        BFGS(atoms, logfile=None).run(fmax=0.02, steps=500)
        atoms.calc = None
        return atoms

    def surrogate(self) -> Path:
        """The starting model: given, or trained from scratch on oracle-labelled C7eq frames."""
        if self.surrogate_path is not None:
            return self.surrogate_path
        from ..atoms.store import atomic_write_frames, read_frames  # noqa: PLC0415
        from ..atoms.training import SurrogateSettings, isolated_atom_energies, train_surrogate  # noqa: PLC0415
        folder = self.out / "surrogate"
        final = folder / "surrogate.model"
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
            _write_json(e0s_path, {str(z): e for z, e in e0s.items()})
        e0s = {int(z): e for z, e in json.loads(e0s_path.read_text()).items()}
        self.log(f"surrogate: training a 32-channel MACE on {len(labelled)} frames")
        trained = train_surrogate(folder / "train.extxyz", folder / "training", e0s,
                                  SurrogateSettings(epochs=c.surrogate_epochs, valid_fraction=c.valid_fraction),
                                  seed=c.seed)
        shutil.copyfile(trained, final.with_suffix(".tmp"))
        final.with_suffix(".tmp").replace(final)
        return final

    def initial_ensemble(self, surrogate: Path) -> list:
        """N snapshots of surrogate Brownian dynamics after a burn-in, from relaxed C7eq."""
        from ..atoms.dynamics import BrownianDynamics  # noqa: PLC0415
        from ..atoms.store import atomic_write_frames, read_frames  # noqa: PLC0415
        path = self.out / "init" / "ensemble.extxyz"
        if path.exists():
            return read_frames(path)
        c = self.config
        calculator = self.calculator(surrogate)
        start = self.relaxed(calculator)
        common = dict(temperature_K=c.skmd_temperature, timestep=c.skmd_timestep, friction=c.friction,
                      seed=c.seed)
        burn = BrownianDynamics([start], calculator, steps=c.burn_in, **common)
        if not burn.run(1):
            raise RuntimeError("the burn-in diverged; check the surrogate model")
        snapshots = BrownianDynamics(burn.particles, calculator, steps=c.snapshot_interval,
                                     **{**common, "seed": c.seed + 1}).run(c.n_particles)
        if len(snapshots) < c.n_particles:
            raise RuntimeError("Brownian dynamics on the surrogate diverged while taking the initial snapshots")
        atomic_write_frames(path, snapshots)
        return snapshots

    def test_set(self, surrogate: Path, ensemble) -> list:
        """The held-out test set: oracle-driven SKMD end points, furthest-point selected, labelled."""
        from ..atoms.dynamics import AtomsSKMD  # noqa: PLC0415
        from ..atoms.store import atomic_write_frames, read_frames  # noqa: PLC0415
        folder = self.out / "test"
        final = folder / "test.extxyz"
        if final.exists():
            return read_frames(final)
        c = self.config
        candidates_path = folder / "candidates.extxyz"
        if not candidates_path.exists():
            self.log(f"test set: {c.test_candidates} oracle-driven SKMD moves")
            descriptor = self.calculator(surrogate).descriptor_for(ensemble[0])
            sampler = AtomsSKMD(ensemble, self.calculator_factory(), descriptor=descriptor,
                                amplitude=c.amplitude, temperature_K=c.skmd_temperature,
                                timestep=c.skmd_timestep, friction=c.friction, steps=c.test_steps,
                                explore_fraction=c.explore_fraction, seed=c.seed + 7, backend=c.backend)
            atomic_write_frames(candidates_path, sampler.run(c.test_candidates))
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

    def make_sampler(self, name: str, ensemble, model_path: Path, seed: int):
        from ..atoms.dynamics import AtomsSKMD, LangevinDynamics  # noqa: PLC0415
        c = self.config
        calculator = self.calculator(model_path)
        if name == "skmd":
            return AtomsSKMD(ensemble, calculator, amplitude=c.amplitude, temperature_K=c.skmd_temperature,
                             timestep=c.skmd_timestep, friction=c.friction, steps=c.steps,
                             explore_fraction=c.explore_fraction, seed=seed, backend=c.backend)
        temperature = {"md300": 300.0, "md700": 700.0}[name]
        return LangevinDynamics(ensemble, calculator, temperature_K=temperature, timestep=c.md_timestep,
                                damping=c.md_damping, steps=c.steps, seed=seed)

    def iteration(self, name: str, k: int, surrogate: Path, test, initial) -> dict:
        """Iteration k ≥ 1 of sampler ``name``: sample, select, label, fine-tune, evaluate."""
        from ..atoms.store import atomic_write_frames, read_frames  # noqa: PLC0415
        from ..atoms.training import finetune, rmse  # noqa: PLC0415
        c = self.config
        folder = self.out / "samplers" / name / f"iter{k:02d}"
        done = folder / "metrics.json"
        if done.exists():
            return json.loads(done.read_text())
        previous = self.out / "samplers" / name / f"iter{k - 1:02d}"
        model_path = surrogate if k == 1 else previous / "model.model"
        ensemble = initial if k == 1 else read_frames(previous / "ensemble.extxyz")
        started = time.perf_counter()
        candidates_path = folder / "candidates.extxyz"
        if not candidates_path.exists():
            sampler = self.make_sampler(name, ensemble, model_path, seed=c.seed * 1000 + k)
            candidates = sampler.run(c.n_candidates)
            atomic_write_frames(folder / "ensemble.extxyz", sampler.particles)
            atomic_write_frames(candidates_path, candidates)
        candidates = read_frames(candidates_path)
        dropped = c.n_candidates - len(candidates)   # every dropped move is a missing candidate, also after a resume
        sample_s = time.perf_counter() - started
        earlier = self.labelled_so_far(name, k - 1)
        selected_path = folder / "selected.extxyz"
        if not selected_path.exists():
            seen = earlier + (read_frames(self.out / "surrogate" / "train.extxyz")
                              if (self.out / "surrogate" / "train.extxyz").exists() else [])
            n_pick = min(c.n_select, len(candidates))
            if n_pick == 0:
                raise RuntimeError(f"{name} iteration {k}: every move diverged; no candidates")
            picks = furthest_point_sampling(self.descriptors(model_path, candidates), n_pick,
                                            existing=self.descriptors(model_path, seen) if seen else None)
            atomic_write_frames(selected_path, [candidates[i] for i in picks])
        labelled, failures = self.store.label(f"{name}/iter{k:02d}", read_frames(selected_path))
        dataset = earlier + labelled
        atomic_write_frames(folder / "train.extxyz", dataset)
        started = time.perf_counter()
        trained = finetune(surrogate, folder / "train.extxyz", folder / "finetune", c.finetune_settings(),
                           seed=c.seed, name="finetuned")
        shutil.copyfile(trained, folder / "model.tmp")
        (folder / "model.tmp").replace(folder / "model.model")
        errors = rmse(self.model(folder / "model.model"), test)
        metrics = {**errors, "iteration": k, "n_train": len(dataset), "n_labelled": len(labelled),
                   "n_failed": len(failures), "failures": failures, "dropped_moves": dropped,
                   "sample_s": sample_s, "finetune_s": time.perf_counter() - started}
        _write_json(done, metrics)
        return metrics

    def labelled_so_far(self, name: str, last: int) -> list:
        from ..atoms.store import read_frames  # noqa: PLC0415
        frames = []
        for k in range(1, last + 1):
            frames += self.store.results(f"{name}/iter{k:02d}",
                                         len(read_frames(self.out / "samplers" / name / f"iter{k:02d}" /
                                                         "selected.extxyz")))[0]
        return frames

    def run(self) -> dict:
        from ..atoms.alanine import ramachandran  # noqa: PLC0415
        from ..atoms.training import rmse  # noqa: PLC0415
        started = time.perf_counter()
        surrogate = self.surrogate()
        initial = self.initial_ensemble(surrogate)
        test = self.test_set(surrogate, initial)
        if not test:
            raise RuntimeError("the oracle labelled none of the test configurations")
        baseline = rmse(self.model(surrogate), test)
        results = {"config": asdict(self.config), "test_size": len(test), "surrogate": str(surrogate),
                   "initial_rmse": baseline, "samplers": {}}
        for name in self.config.samplers:
            history = []
            for k in range(1, self.config.iterations + 1):
                history.append(self.iteration(name, k, surrogate, test, initial))
                self.log(f"{name} iteration {k}: energy RMSE {history[-1]['energy_rmse']:.4f} eV, "
                         f"force RMSE {history[-1]['force_rmse']:.4f} eV/Å")
            samples = self.labelled_so_far(name, self.config.iterations)
            results["samplers"][name] = {
                "energy_rmse": [baseline["energy_rmse"]] + [h["energy_rmse"] for h in history],
                "force_rmse": [baseline["force_rmse"]] + [h["force_rmse"] for h in history],
                "iterations": history,
                "phi_psi": ramachandran(samples).tolist() if samples else []}
        results["test_phi_psi"] = ramachandran(test).tolist()
        results["oracle_calls"] = self.store.oracle_calls
        results["wall_s"] = time.perf_counter() - started
        _write_json(self.out / "results.json", results)
        from .plots import ala2_figures  # noqa: PLC0415
        ala2_figures(self.out, results)
        return results


def oracle_md_frames(atoms, calculator, temperature_K: float, n_frames: int, stride: int, seed: int) -> list:
    """Snapshots every ``stride`` fs of underdamped Langevin MD (1 fs, 0.1 ps damping) with ``calculator``."""
    from ase import units  # noqa: PLC0415
    from ase.md.langevin import Langevin  # noqa: PLC0415
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution  # noqa: PLC0415
    atoms = atoms.copy()
    atoms.calc = calculator
    rng = np.random.default_rng([seed, 99])
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
    dynamics = Langevin(atoms, units.fs, temperature_K=temperature_K, friction=0.01 / units.fs, rng=rng)
    frames = []
    for _ in range(n_frames):
        dynamics.run(stride)
        frame = atoms.copy()
        frame.calc = None
        frames.append(frame)
    return frames


def run_study(config: Ala2Config, out, **kwargs) -> dict:
    """Run (or resume) the study in ``out``; returns the results written to results.json."""
    return Study(config, out, **kwargs).run()


# --------------------------------------------------------------------------- command line
def add_command(sub) -> None:
    p = sub.add_parser("ala2", help="alanine-dipeptide active learning and MACE fine-tuning (paper Fig. 3)")
    p.add_argument("--full", action="store_true",
                   help="the paper's settings: 300 candidates, 500 steps per move, 100 selected, 10 iterations")
    p.add_argument("--iterations", type=int, default=None)
    p.add_argument("--samplers", default=",".join(SAMPLERS), help="comma-separated subset of " + ",".join(SAMPLERS))
    p.add_argument("--surrogate", default=None, help="a MACE .model to start from (default: train one)")
    p.add_argument("--surrogate-only", action="store_true",
                   help="build the surrogate (oracle MD in C7eq, labels, mace_run_train) and stop")
    p.add_argument("--calculator", default="skmd.atoms.oracle:gfn2_xtb",
                   help="the oracle: 'module:function' returning an ASE calculator")
    p.add_argument("--finetune", default="lora", choices=["lora", "full"])
    p.add_argument("--amplitude", type=float, default=None, help="SKMD kernel amplitude h")
    add_common_flags(p, "runs/ala2", "small settings that finish in under 10 minutes")
    p.set_defaults(func=_main)


def _main(args) -> int:
    if args.quick and args.full:
        raise ValueError("choose one of --quick and --full")
    if not (args.quick or args.full):
        raise ValueError("choose --quick (minutes) or --full (the paper's settings, days on 2 cores)")
    config = Ala2Config(seed=args.seed, backend=args.backend, finetune_mode=args.finetune,
                        samplers=tuple(s.strip() for s in args.samplers.split(",")))
    if args.quick:
        config = replace(config, **QUICK)
    if args.iterations is not None:
        config = replace(config, iterations=args.iterations)
    if args.amplitude is not None:
        config = replace(config, amplitude=args.amplitude)
    factory = load_factory(args.calculator)
    if args.surrogate_only:
        print(f"surrogate: {Study(config, args.out, calculator_factory=factory).surrogate()}")
        return 0
    results = run_study(config, args.out, calculator_factory=factory, surrogate=args.surrogate)
    print(summary_table(results))
    print(f"oracle calls: {results['oracle_calls']}; wrote {args.out}/results.json and figures")
    return 0


def summary_table(results) -> str:
    lines = ["| sampler | energy RMSE (eV) per iteration | force RMSE (eV/Å) per iteration |", "|---|---|---|"]
    for name, r in results["samplers"].items():
        energy = ", ".join(f"{v:.3f}" for v in r["energy_rmse"])
        force = ", ".join(f"{v:.3f}" for v in r["force_rmse"])
        lines.append(f"| {name} | {energy} | {force} |")
    return "\n".join(lines)


__all__ = ["Ala2Config", "QUICK", "SAMPLERS", "Study", "run_study", "load_factory"]

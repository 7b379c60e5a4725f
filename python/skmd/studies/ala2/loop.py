"""The active-learning loop: per iteration, sample with every sampler, then select, label, fine-tune.

Iteration k of every sampler starts from that sampler's model and ensemble after iteration k − 1
(the surrogate and the initial ensemble for k = 1). The samplers of one iteration run together
through :func:`~skmd.atoms.parallel.run_samplers`, on the study's executor or in this process.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path

from ...tools.selection import furthest_point_sampling
from .records import write_json
from .stages import Stages


class Study(Stages):
    """The whole workflow in one run directory (see :mod:`skmd.studies.ala2`)."""

    def folder(self, name: str, k: int) -> Path:
        return self.out / "samplers" / name / f"iter{k:02d}"

    def model_path(self, name: str, k: int, surrogate: Path) -> Path:
        """The model sampler ``name`` samples with in iteration ``k``."""
        return surrogate if k == 1 else self.folder(name, k - 1) / "model.model"

    def sample(self, k: int, surrogate: Path, initial) -> dict:
        """Candidates of iteration ``k`` for every sampler still without them; returns {name: seconds}."""
        from ...atoms.parallel import MACEFactory, run_samplers  # noqa: PLC0415
        from ...atoms.store import atomic_write_frames, read_frames  # noqa: PLC0415
        c = self.config
        pending = [s for s in c.chosen_samplers() if not (self.folder(s.name, k) / "candidates.extxyz").exists()
                   and not (self.folder(s.name, k) / "metrics.json").exists()]
        if not pending:
            return {}
        ensembles = {s.name: initial if k == 1 else read_frames(self.folder(s.name, k - 1) / "ensemble.extxyz")
                     for s in pending}
        specs = {s.name: s.spec(c.n_candidates, c.steps, seed=c.seed * 1000 + k) for s in pending}
        # On an executor the samplers of an iteration run side by side, each with its own model;
        # in this process each runs, and is timed, on its own.
        factories = {name: MACEFactory(str(self.model_path(name, k, surrogate))) for name in specs}
        groups = [list(specs)] if self.executor is not None else [[name] for name in specs]
        seconds = {}
        for group in groups:
            started = time.perf_counter()
            results = run_samplers([specs[name] for name in group], ensembles, {n: factories[n] for n in group},
                                   executor=self.executor, threads=self.threads)
            elapsed = time.perf_counter() - started
            for name, result in results.items():
                atomic_write_frames(self.folder(name, k) / "ensemble.extxyz", result["ensemble"])
                atomic_write_frames(self.folder(name, k) / "candidates.extxyz", result["candidates"])
                seconds[name] = elapsed
        return seconds

    def finish_iteration(self, name: str, k: int, surrogate: Path, test, sample_s: float = 0.0) -> dict:
        """Select, label, fine-tune and evaluate iteration ``k`` of ``name`` (after :meth:`sample`)."""
        from ...atoms.store import atomic_write_frames, read_frames  # noqa: PLC0415
        from ...atoms.training import finetune, rmse  # noqa: PLC0415
        c = self.config
        folder = self.folder(name, k)
        done = folder / "metrics.json"
        if done.exists():
            return json.loads(done.read_text())
        model_path = self.model_path(name, k, surrogate)
        candidates = read_frames(folder / "candidates.extxyz")
        dropped = c.n_candidates - len(candidates)   # every dropped move is a missing candidate, also after a resume
        earlier = self.labelled_so_far(name, k - 1)
        selected_path = folder / "selected.extxyz"
        if not selected_path.exists():
            surrogate_train = self.out / "surrogate" / "train.extxyz"
            seen = earlier + (read_frames(surrogate_train) if surrogate_train.exists() else [])
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
        write_json(done, metrics)
        return metrics

    def labelled_so_far(self, name: str, last: int) -> list:
        """Every frame the oracle labelled for ``name`` in iterations 1..``last``."""
        from ...atoms.store import read_frames  # noqa: PLC0415
        frames = []
        for k in range(1, last + 1):
            selected = read_frames(self.folder(name, k) / "selected.extxyz")
            frames += self.store.results(f"{name}/iter{k:02d}", len(selected))[0]
        return frames

    def run(self) -> dict:
        """Run (or resume) every stage; write results.json and the figures; return the results."""
        from ...atoms.alanine import ramachandran  # noqa: PLC0415
        from ...atoms.training import rmse  # noqa: PLC0415
        started = time.perf_counter()
        surrogate = self.surrogate()
        initial = self.initial_ensemble(surrogate)
        test = self.test_set(surrogate, initial)
        if not test:
            raise RuntimeError("the oracle labelled none of the test configurations")
        baseline = rmse(self.model(surrogate), test)
        names = list(self.config.samplers)
        history = {name: [] for name in names}
        for k in range(1, self.config.iterations + 1):
            sample_s = self.sample(k, surrogate, initial)
            for name in names:
                history[name].append(self.finish_iteration(name, k, surrogate, test, sample_s.get(name, 0.0)))
                self.log(f"{name} iteration {k}: energy RMSE {history[name][-1]['energy_rmse']:.4f} eV, "
                         f"force RMSE {history[name][-1]['force_rmse']:.4f} eV/Å")
        results = {"config": asdict(self.config), "test_size": len(test), "surrogate": str(surrogate),
                   "initial_rmse": baseline, "samplers": {}}
        for name in names:
            samples = self.labelled_so_far(name, self.config.iterations)
            results["samplers"][name] = {
                "energy_rmse": [baseline["energy_rmse"]] + [h["energy_rmse"] for h in history[name]],
                "force_rmse": [baseline["force_rmse"]] + [h["force_rmse"] for h in history[name]],
                "iterations": history[name],
                "phi_psi": ramachandran(samples).tolist() if samples else []}
        results["test_phi_psi"] = ramachandran(test).tolist()
        results["oracle_calls"] = self.store.oracle_calls
        results["wall_s"] = time.perf_counter() - started
        write_json(self.out / "results.json", results)
        from ..plots import ala2_figures  # noqa: PLC0415
        ala2_figures(self.out, results)
        return results


def run_study(config, out, **kwargs) -> dict:
    """Run (or resume) the study in ``out``; returns the results written to results.json."""
    return Study(config, out, **kwargs).run()

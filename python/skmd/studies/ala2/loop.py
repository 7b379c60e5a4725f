"""The active-learning loop: per iteration, sample with every sampler, then select, label, fine-tune, score.

Iteration k of every sampler starts from that sampler's model and ensemble after iteration k − 1
(the surrogate and the initial ensemble for k = 1). The samplers of one iteration run together
through :func:`~skmd.atoms.parallel.run_samplers`, on the study's executor or in this process;
then each sampler's batch is selected and labelled (in this process, one label store), the
fine-tunings (UDD's committee members each on its own) run side by side on ``jobs`` threads (each a
``mace_run_train`` process), and the new models are scored on the test set side by side on the
executor. Every stage's wall time lands in ``metrics.json`` and ``results.json``.
"""
from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from ...atoms.tasks import run_tasks
from ...tools.selection import furthest_point_sampling
from ...tools.rundir import write_json
from ...atoms.parallel import CommitteeFactory, UBMDFactory
from .samplers import SKMD, UBMD, UDD, split_calibration
from .scoring import compare_final, coverage_summary, score, score_model
from .stages import Stages


class Study(Stages):
    """The whole workflow in one run directory (see :mod:`skmd.studies.ala2`)."""

    def folder(self, name: str, k: int) -> Path:
        return self.out / "samplers" / name / f"iter{k:02d}"

    def model_path(self, name: str, k: int, surrogate: Path) -> Path:
        """The model sampler ``name`` samples with in iteration ``k``."""
        return surrogate if k == 1 else self.folder(name, k - 1) / "model.safetensors"

    def committee_paths(self, k: int, surrogate: Path) -> list:
        """UDD's committee in iteration ``k``: the starting members for k = 1, else their fine-tunes."""
        if k == 1:
            return self.committee(surrogate)
        folder = self.folder(UDD, k - 1)
        return [folder / "model.safetensors"] + [folder / f"committee{m}.safetensors"
                                                 for m in range(1, self.config.committee_size)]

    # ------------------------------------------------------------------ sampling
    def factory(self, name: str, k: int, surrogate: Path):
        """The picklable calculator factory sampler ``name`` samples with in iteration ``k``."""
        from ...atoms.parallel import MACEFactory  # noqa: PLC0415
        from ...atoms.store import atomic_write_frames, read_frames  # noqa: PLC0415
        c = self.config
        if name == UDD:
            return CommitteeFactory(tuple(str(p) for p in self.committee_paths(k, surrogate)), c.udd_A, c.udd_B)
        model = str(self.model_path(name, k, surrogate))
        if name != UBMD:
            return MACEFactory(model)
        surrogate_train = self.out / "surrogate" / "train.extxyz"
        if not surrogate_train.is_file():
            raise ValueError("ubmd fits its uncertainty on the surrogate's training frames; run without "
                             "--surrogate, or leave ubmd out")
        fit, calibration = split_calibration(read_frames(surrogate_train) + self.labelled_so_far(name, k - 1))
        paths = [self.folder(name, k) / "uncertainty_fit.extxyz", self.folder(name, k) / "uncertainty_calibration.extxyz"]
        for path, frames in zip(paths, (fit, calibration)):
            atomic_write_frames(path, frames)
        return UBMDFactory(model, str(paths[0]), str(paths[1]), n_features=c.n_features, alpha=c.ubmd_alpha,
                           tau=c.ubmd_tau, seed=c.seed)

    def sample(self, k: int, surrogate: Path, initial) -> dict:
        """Candidates of iteration ``k`` for every sampler still without them (with sampling.json);
        returns {name: seconds} of the samplers it ran."""
        from ...atoms.parallel import run_samplers  # noqa: PLC0415
        from ...atoms.store import atomic_write_frames, read_frames  # noqa: PLC0415
        c = self.config
        pending = [s for s in c.chosen_samplers() if not (self.folder(s.name, k) / "candidates.extxyz").exists()]
        # The costliest first, so that a pool does not end an iteration with one long task alone:
        # UDD calls K models per step, UB-MD adds u and its gradients, SKMD its Jacobians.
        cost = {UDD: c.committee_size, UBMD: 1.5, SKMD: 1.2}
        pending.sort(key=lambda sampler: -cost.get(sampler.name, 1.0))
        if not pending:
            return {}
        ensembles = {s.name: initial if k == 1 else read_frames(self.folder(s.name, k - 1) / "ensemble.extxyz")
                     for s in pending}
        specs = {s.name: s.spec(c.n_candidates, c.steps, seed=c.seed * 1000 + k) for s in pending}
        factories = {name: self.factory(name, k, surrogate) for name in specs}
        # On an executor the samplers of an iteration run side by side; in this process one after another.
        groups = [list(specs)] if self.executor is not None else [[name] for name in specs]
        seconds = {}
        for group in groups:
            results = run_samplers([specs[name] for name in group], ensembles, {n: factories[n] for n in group},
                                   executor=self.executor, threads=self.threads)
            for name, result in results.items():
                folder = self.folder(name, k)
                trace = [angles for record in result["records"] for angles in record]
                write_json(folder / "sampling.json", {"sample_s": result["seconds"], "freeze_s": result["freeze_s"],
                                                      "dropped": result["dropped"], "phi_psi_trace": trace})
                atomic_write_frames(folder / "ensemble.extxyz", result["ensemble"])
                atomic_write_frames(folder / "candidates.extxyz", result["candidates"])
                seconds[name] = result["seconds"]
        return seconds

    # ------------------------------------------------------------------ select, label, train, score
    def prepare(self, name: str, k: int, surrogate: Path) -> dict:
        """Select and label iteration ``k``'s batch of ``name``; write its training file. Returns timings."""
        from ...atoms.store import atomic_write_frames, read_frames  # noqa: PLC0415
        c, folder = self.config, self.folder(name, k)
        candidates = read_frames(folder / "candidates.extxyz")
        earlier = self.labelled_so_far(name, k - 1)
        selected_path = folder / "selected.extxyz"
        if not selected_path.exists():
            surrogate_train = self.out / "surrogate" / "train.extxyz"
            seen = earlier + (read_frames(surrogate_train) if surrogate_train.exists() else [])
            if not candidates:
                raise RuntimeError(f"{name} iteration {k}: every move diverged; no candidates")
            model_path = self.model_path(name, k, surrogate)
            picks = furthest_point_sampling(self.descriptors(model_path, candidates), min(c.n_select, len(candidates)),
                                            existing=self.descriptors(model_path, seen) if seen else None)
            atomic_write_frames(selected_path, [candidates[i] for i in picks])
        started = time.perf_counter()
        labelled, failures = self.store.label(f"{name}/iter{k:02d}", read_frames(selected_path))
        atomic_write_frames(folder / "train.extxyz", earlier + labelled)
        return {"label_s": time.perf_counter() - started, "n_train": len(earlier) + len(labelled),
                "n_labelled": len(labelled), "n_failed": len(failures), "failures": failures,
                "dropped_moves": c.n_candidates - len(candidates)}

    def training_jobs(self, name: str, surrogate: Path) -> list:
        """(name, member, starting model) of every fine-tuning ``name`` needs: the surrogate, and
        for UDD every other committee member too (each its own job, so they run side by side)."""
        starts = self.committee_paths(1, surrogate) if name == UDD else [surrogate]
        return [(name, m, start) for m, start in enumerate(starts)]

    def train(self, name: str, k: int, member: int, start: Path) -> float:
        """Fine-tune ``start`` on all of ``name``'s labels so far (member 0 becomes the sampler's
        model, member m ≥ 1 UDD's committee member m); returns the wall time."""
        from ...atoms.training import finetune  # noqa: PLC0415
        c, folder = self.config, self.folder(name, k)
        started = time.perf_counter()
        final = folder / ("model.safetensors" if member == 0 else f"committee{member}.safetensors")
        if not final.is_file():
            work = folder / ("finetune" if member == 0 else f"finetune{member}")
            trained = finetune(start, folder / "train.extxyz", work, c.finetune_settings(), seed=c.seed + member,
                               name="finetuned")
            shutil.copyfile(trained, final.with_suffix(".tmp"))
            final.with_suffix(".tmp").replace(final)
        return time.perf_counter() - started

    def iteration(self, k: int, surrogate: Path, initial, test) -> dict:
        """Run iteration ``k`` of every sampler; returns {name: metrics}."""
        names = list(self.config.samplers)
        done = {name: self.folder(name, k) / "metrics.json" for name in names}
        if all(path.exists() for path in done.values()):
            return {name: json.loads(done[name].read_text()) for name in names}
        self.sample(k, surrogate, initial)
        todo = [name for name in names if not done[name].exists()]
        prepared = {name: self.prepare(name, k, surrogate) for name in todo}
        jobs = [job for name in todo for job in self.training_jobs(name, surrogate)]
        with ThreadPoolExecutor(self.jobs) as pool:
            seconds = list(pool.map(lambda job: self.train(job[0], k, job[1], job[2]), jobs))
        train_s = {name: sum(s for (owner, _, _), s in zip(jobs, seconds) if owner == name) for name in todo}
        models = [(str(self.folder(name, k) / "model.safetensors"), test, self.threads) for name in todo]
        scores = run_tasks(score_model, models, executor=self.executor)
        for name, errors in zip(todo, scores):
            sampling = json.loads((self.folder(name, k) / "sampling.json").read_text())
            metrics = {**errors, "iteration": k, **prepared[name], "sample_s": sampling["sample_s"],
                       "freeze_s": sampling["freeze_s"], "finetune_s": train_s[name]}
            write_json(done[name], metrics)
        return {name: json.loads(done[name].read_text()) for name in names}

    def labelled_so_far(self, name: str, last: int) -> list:
        """Every frame the oracle labelled for ``name`` in iterations 1..``last``."""
        from ...atoms.store import read_frames  # noqa: PLC0415
        frames = []
        for k in range(1, last + 1):
            selected = read_frames(self.folder(name, k) / "selected.extxyz")
            frames += self.store.results(f"{name}/iter{k:02d}", len(selected))[0]
        return frames

    def _timed(self, timing: dict, key: str, stage, *args):
        started = time.perf_counter()
        value = stage(*args)
        timing[key] = time.perf_counter() - started
        return value

    def run(self) -> dict:
        """Run (or resume) every stage; write results.json and the figures; return the results."""
        from ...atoms.alanine import ramachandran  # noqa: PLC0415
        started, timing, c = time.perf_counter(), {}, self.config
        surrogate = self._timed(timing, "surrogate_s", self.surrogate)
        if UDD in c.samplers:
            self._timed(timing, "committee_s", self.committee, surrogate)
        initial = self._timed(timing, "initial_ensemble_s", self.initial_ensemble, surrogate)
        test = self._timed(timing, "test_set_s", self.test_set, surrogate, initial)
        if not test:
            raise RuntimeError("the oracle labelled none of the test configurations")
        baseline = score(self.calculator(surrogate), test)
        history = {name: [] for name in c.samplers}
        for k in range(1, c.iterations + 1):
            for name, metrics in self.iteration(k, surrogate, initial, test).items():
                history[name].append(metrics)
                self.log(f"{name} iteration {k}: energy RMSE {metrics['energy_rmse']:.4f} eV, "
                         f"force RMSE {metrics['force_rmse']:.4f} eV/Å")
        results = {"config": asdict(c), "test_size": len(test), "surrogate": str(surrogate),
                   "initial_rmse": baseline, "samplers": {}, "timing": timing}
        for name in c.samplers:
            samples = self.labelled_so_far(name, c.iterations)
            traces = [json.loads((self.folder(name, k) / "sampling.json").read_text())["phi_psi_trace"]
                      for k in range(1, c.iterations + 1)]
            results["samplers"][name] = {
                "energy_rmse": [baseline["energy_rmse"]] + [h["energy_rmse"] for h in history[name]],
                "force_rmse": [baseline["force_rmse"]] + [h["force_rmse"] for h in history[name]],
                "iterations": history[name], **coverage_summary(traces),
                "phi_psi": ramachandran(samples).tolist() if samples else []}
        per_frame = {"surrogate": baseline["per_frame"]}
        for name in c.samplers:   # a run scored before per-frame errors were kept is scored again
            final = history[name][-1]
            per_frame[name] = final.get("per_frame") or score(
                self.calculator(self.folder(name, c.iterations) / "model.safetensors"), test)["per_frame"]
        results["comparisons_final"] = compare_final(per_frame, test, seed=c.seed)
        results["test_phi_psi"] = ramachandran(test).tolist()
        results["oracle_calls"] = self.store.oracle_calls
        results["wall_s"] = time.perf_counter() - started
        write_json(self.out / "results.json", results)
        from .figures import ala2_figures  # noqa: PLC0415
        ala2_figures(self.out, results)
        return results


def run_study(config, out, **kwargs) -> dict:
    """Run (or resume) the study in ``out``; returns the results written to results.json."""
    return Study(config, out, **kwargs).run()


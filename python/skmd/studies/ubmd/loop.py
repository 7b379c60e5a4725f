"""The active-learning loop of ``skmd ubmd``: per sampler and iteration, calibrate, sample, select,
label, fine-tune, evaluate.

Iteration k of a sampler samples with its models after iteration k − 1 (the surrogate for k = 1),
whose uncertainty is fitted on their training split and calibrated on the calibration split.
Every output is written atomically and skipped when present, so a rerun resumes.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict

import numpy as np

from ...tools.progress import progress
from .stages import Stages, split
from .records import results_summary, trace_every, visited, write_json


class Study(Stages):
    """The whole run in one directory (see :mod:`skmd.studies.ubmd`)."""

    def folder(self, name: str, k: int):
        return self.out / "surrogate" if k == 0 else self.out / "samplers" / name / f"iter{k:02d}"

    def data(self, name: str, k: int) -> tuple[list, list]:
        """(training, calibration) labels of ``name`` after iteration ``k`` (initial data included)."""
        from ...atoms.store import read_frames  # noqa: PLC0415
        train, calibration = split(self.initial, self.config.valid_every)
        for j in range(1, k + 1):
            selected = read_frames(self.folder(name, j) / "selected.extxyz")
            more_train, more_cal = split(self.store.results(f"{name}/iter{j:02d}", len(selected))[0],
                                         self.config.valid_every)
            train, calibration = train + more_train, calibration + more_cal
        return train, calibration

    def models(self, name: str, k: int) -> list:
        """Model paths of ``name`` after iteration ``k``: the surrogate(s) for k = 0, else fine-tuned."""
        base = None if k == 0 else self.models(name, 0)
        return self.train(self.folder(name, k), self.data(name, k)[0], base)

    # ------------------------------------------------------------------ sampling
    def _walker(self, sampler, calculator, start, pressure: float, seed: int) -> tuple:
        """One walker through the engine: a biased (or plain) walk from ``start`` that stops at the
        threshold. Returns (candidates, the record of sampling.json)."""
        from ...atoms import Every, IndependentWalkers, UncertaintyStop  # noqa: PLC0415
        from ...tools.labels import strip_labels  # noqa: PLC0415
        from ...uncertainty import UncertaintyBias  # noqa: PLC0415
        from ...uncertainty.sampling import integrator_for  # noqa: PLC0415
        c = self.config
        atoms = start.copy()
        strip_labels(atoms)   # no labels of the start frame travel with the candidates
        atoms.info = {}
        walk_calc = UncertaintyBias(calculator, tau=c.tau, tau_stress=c.tau_stress, window=c.window) \
            if sampler.biased else calculator
        integrator = integrator_for(c.dynamics(), sampler.temperature_K, c.timestep_fs, pressure_GPa=pressure,
                                    pdamp_fs=c.pdamp_fs)
        trace = _Trace(periodic=c.periodic)
        driver = IndependentWalkers([atoms], walk_calc, integrator, steps=c.steps, seed=seed, acquisition=[
            UncertaintyStop(c.steps, atomic_threshold=c.atomic_threshold, interval=c.interval),
            Every(trace.add, trace_every(c)), trace])
        candidates = driver.run(1)
        walk = trace.walk
        return candidates, {"pressure_GPa": pressure, "stopped": bool(walk.stopped and not driver.dropped),
                            "steps": int(walk.step), "dropped": driver.dropped,
                            "trace": [] if driver.dropped else trace.values}

    def sample(self, sampler, k: int, calculator) -> list:
        """Candidates of iteration ``k`` (checkpointed), with the trace of what the walkers visited
        (sampling.json: per walker the pressure, threshold stop, steps done, dropped moves with their
        divergence cause, and the visited volumes (Å³) or φ/ψ angles (degrees))."""
        from ...atoms.alanine import ramachandran  # noqa: PLC0415
        from ...atoms import UncertaintyStop  # noqa: PLC0415
        from ...atoms.store import atomic_write_frames, read_frames  # noqa: PLC0415
        c, folder = self.config, self.folder(sampler.name, k)
        if (folder / "candidates.extxyz").exists():
            return read_frames(folder / "candidates.extxyz")
        pressures = c.pressures_GPa if c.dynamics() == "npt" else (0.0,)
        jobs = [(p, w) for p in pressures for w in range(c.walkers)]
        candidates, record = [], {"walkers": []}
        starts = [self.initial[w * len(self.initial) // c.walkers] for w in range(c.walkers)]   # restarts from the data
        UncertaintyStop(c.steps, atomic_threshold=c.atomic_threshold).check_starts(calculator, starts)
        started = time.perf_counter()
        walks = progress(list(enumerate(jobs)), desc=f"{sampler.name} iteration {k}: walkers")
        for index, (pressure, w) in walks:
            start = starts[w]
            found, walker = self._walker(sampler, calculator, start, pressure,
                                         seed=c.seed * 10007 + 100 * k + index)
            candidates += found
            trace = walker.pop("trace")
            walker["visited"] = trace if c.periodic or not trace else \
                ramachandran(np.array(trace)).tolist()
            record["walkers"].append(walker)
        record["sample_s"] = time.perf_counter() - started
        write_json(folder / "sampling.json", record)
        atomic_write_frames(folder / "candidates.extxyz", candidates)
        return candidates

    def select(self, name: str, k: int, candidates, gradient) -> list:
        """The batch of iteration ``k`` (checkpointed) chosen by ``config.selection``."""
        from ...atoms.store import atomic_write_frames, read_frames  # noqa: PLC0415
        from ...tools.selection import furthest_point_sampling  # noqa: PLC0415
        from ...uncertainty.selection import select_batch  # noqa: PLC0415
        c, path = self.config, self.folder(name, k) / "selected.extxyz"
        if not path.exists():
            if not candidates:
                raise RuntimeError(f"{name} iteration {k}: no candidates (every walker stopped at once?)")
            n_pick = min(c.n_select, len(candidates))
            features = gradient.features.compute(candidates)[0]
            if c.selection == "fps":
                existing = gradient.features.compute(self.data(name, k - 1)[0])[0]
                picks = furthest_point_sampling(features, n_pick, existing=existing)
            else:
                picks = select_batch(c.selection, features, gradient.structure_posterior, n_pick, seed=c.seed + k)
            atomic_write_frames(path, [candidates[i] for i in picks])
        return read_frames(path)

    def iteration(self, sampler, k: int, test) -> dict:
        """Sample, select, label, fine-tune and evaluate iteration ``k`` of ``sampler``."""
        folder = self.folder(sampler.name, k)
        done = folder / "metrics.json"
        if done.exists():
            return json.loads(done.read_text())
        step = f"{sampler.name} iteration {k}/{self.config.iterations}:"
        paths = self.models(sampler.name, k - 1)
        train, calibration = self.data(sampler.name, k - 1)
        self.log(f"{step} calibrating the uncertainty on {len(calibration)} frames")
        calculator, gradient = self.uncertainty(paths, train, calibration)
        self.log(f"{step} sampling")
        candidates = self.sample(sampler, k, calculator)
        selected = self.select(sampler.name, k, candidates, gradient)
        self.log(f"{step} labelling {len(selected)} of {len(candidates)} candidates")
        labelled, failures = self.store.label(f"{sampler.name}/iter{k:02d}", selected)
        started = time.perf_counter()
        self.log(f"{step} fine-tuning on {len(train) + len(labelled)} frames")
        new_paths = self.models(sampler.name, k)
        metrics = {**self.errors(new_paths, test), "iteration": k, "n_candidates": len(candidates),
                   "n_labelled": len(labelled), "n_failed": len(failures), "train_s": time.perf_counter() - started,
                   "coverage_test": calculator.coverage(test),
                   "scales": {"structure": calculator.structure_scale, "atomic": calculator.atomic_scale}}
        write_json(done, metrics)
        return metrics

    def run(self) -> dict:
        """Run (or resume) every stage; write results.json and the figures; return the results."""
        started = time.perf_counter()
        self.log("starting data: oracle labels")
        self.initial = self.initial_data()
        test = self.test_set()
        self.log(f"test set: {len(test)} frames; training the surrogate (skipped when already done)")
        surrogate = self.models("", 0)
        results = {"config": asdict(self.config), "test_size": len(test), "initial": self.errors(surrogate, test),
                   "samplers": {}}
        for sampler in self.config.chosen_samplers():
            history = []
            for k in range(1, self.config.iterations + 1):
                history.append(self.iteration(sampler, k, test))
                self.log(f"{sampler.name} iteration {k}: " + ", ".join(
                    f"{key} {history[-1][key]:.2f}" for key in history[-1] if key.endswith(("atom", "_A", "A3"))))
            results["samplers"][sampler.name] = {"biased": sampler.biased, "temperature_K": sampler.temperature_K,
                                                 "iterations": history, **visited(self, sampler)}
        results["final_per_frame"], results["comparisons_final"] = self.comparisons(results, test)
        results["oracle_calls"] = self.store.oracle_calls
        results["wall_s"] = time.perf_counter() - started
        results_summary(self, results)
        write_json(self.out / "results.json", results)
        return results

    def comparisons(self, results, test) -> tuple[dict, dict]:
        """Every pair of the surrogate and the samplers' final models on per-test-frame errors
        (energy, forces, stress): median paired difference with its 95 % bootstrap interval over
        test frames, Wilcoxon signed-rank p, Holm-adjusted over the pairs of each quantity. One run:
        the intervals speak to the test set's sampling error, not to run-to-run variation. The
        per-frame errors are those the scoring kept; a run scored before they were kept is scored again.
        Returns ({name: {quantity: per-frame errors}}, {quantity: comparisons})."""
        from ...tools.stats import compare_models  # noqa: PLC0415
        per_frame = {"surrogate": results["initial"]["per_frame"]}
        for name, sampler in results["samplers"].items():
            final = sampler["iterations"][-1]
            per_frame[name] = final.get("per_frame") or \
                self.errors(self.models(name, self.config.iterations), test)["per_frame"]
        return per_frame, compare_models(per_frame, seed=self.config.seed)


class _Trace:
    """What a walk visited (cell volumes in Å³, or positions), restarted with every attempt;
    an observer whose ``start`` keeps the live walk (its ``step`` and ``stopped``)."""

    def __init__(self, periodic: bool):
        self.periodic, self.walk, self.values = periodic, None, []

    def start(self, walk) -> None:
        self.walk, self.values = walk, []

    def __call__(self, walk) -> None:
        pass

    def add(self, walk) -> None:
        self.values.append(float(walk.atoms.get_volume()) if self.periodic else walk.atoms.positions.copy())



def run_study(config, out, **kwargs) -> dict:
    """Run (or resume) a study in ``out``; returns the results written to results.json."""
    return Study(config, out, **kwargs).run()

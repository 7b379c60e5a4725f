"""One sampler's iterations (see :mod:`skmd.al.campaign`): sample, select and label, train, score.

:class:`IterationStages` runs each stage of a sampler's iteration k, reading and writing only the run
directory's files for it (:class:`~skmd.al.run_dir.RunDir`; under ``samplers/<name>/iterKK/``):
``candidates.extxyz`` and ``ensemble.extxyz`` with ``sampling.json`` (walks, drops, uncertainty stops,
time), ``selected.extxyz``, ``train.extxyz`` and ``calibration.extxyz`` (all labels so far, disjoint),
``model<m>.safetensors`` and ``metrics.json`` (test errors, counts, wall time per stage, written last).
A stage whose output exists is skipped, so a rerun resumes. :func:`sampler_chains` makes each sampler's
iterations one callable for the scheduler (:func:`skmd.al.chains.run_chains`).
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Callable

from ..atoms.parallel import run_samplers
from ..atoms.scoring import score_model_file
from ..atoms.tasks import run_tasks
from ..tools.device import resolve_device
from ..tools.threads import resolve_threads
from ..tools.words import plural
from . import learning
from .report import crossing_sentence, errors_line, walks_text
from .run_dir import RunDir, label_key
from .samplers import Context
from .selection import SelectionContext, checked_picks
from .splits import split_labels, validation
from .start import bare_copies, perturbed_copies, replace_dropped
from .training import kept


#: ``info`` keys of a selected frame: its index among the iteration's candidates, and whether it replaced a failure
CANDIDATE, REPLACEMENT = "skmd_candidate", "skmd_replacement"


def sampler_models(sampler) -> int:
    """How many models a sampler's chain trains (1 unless it says otherwise, e.g. a committee)."""
    return int(getattr(sampler, "n_models", 1))


@dataclass
class IterationStages:
    """The stages of every sampler's iterations in one campaign: what they read, write and call.

    ``run``: the run directory; ``config``: the campaign's :class:`~skmd.al.config.CampaignConfig`;
    ``structures``: the user's starting structures; ``store``: the label store; ``selector``, ``trainer``:
    the campaign's parts (:mod:`skmd.al.selection`, :mod:`skmd.al.training`); ``executor``: where walks and
    scorings run (None: here); ``log``: one line per call.
    """

    run: RunDir
    config: object
    structures: list
    store: object
    selector: Callable
    trainer: Callable
    executor: object = None
    log: Callable = print

    def models(self, sampler, k: int) -> list:
        """The sampler's models after iteration ``k`` (k = 0: the starting models)."""
        return self.run.models(sampler.name, k, sampler_models(sampler))

    def context(self, sampler, k: int) -> Context:
        run = self.run
        return Context(tuple(str(p) for p in self.models(sampler, k - 1)),
                       str(run.data_file(sampler.name, k - 1, "train")),
                       str(run.data_file(sampler.name, k - 1, "calibration")), self.config.pressure_GPa,
                       self.config.seed * 1000 + k, resolve_device(self.config.device))

    def walker_starts(self, sampler, k: int) -> list:
        """Where iteration ``k``'s walkers start. ``starts: end``: perturbed copies of the structures (k = 1),
        then the walkers' own end points. ``starts: labelled``: frames labelled in iteration k − 1 (the
        starting labels for k = 1) that went to training, never a held-out one, so every start is a
        frame the uncertainty's posterior has seen."""
        c, run = self.config, self.run
        if c.starts == "labelled":
            train = run.read_frames(run.data_file(sampler.name, k - 1, "train"))
            source = "" if k == 1 else label_key(sampler.name, k - 1)
            frames = [f for f in train if k == 1 or f.info.get("skmd_source") == source]
            if frames:
                return bare_copies(frames, c.walkers, c.seed * 1000 + k)
            self.log(f"iteration {k}: {sampler.name} has no labelled training frame of iteration {k - 1} "
                     "to start from; its walkers go on from their end points")
        if k > 1:
            return run.read_frames(run.iteration(sampler.name, k - 1) / "ensemble.extxyz")
        return perturbed_copies(self.structures, c.walkers, c.perturb_A, 0.0, c.seed + 1)

    def sample(self, sampler, k: int) -> None:
        """Candidates of iteration ``k`` for ``sampler`` (one task on the executor), unless already there."""
        c, name, folder = self.config, sampler.name, self.run.iteration(sampler.name, k)
        if (folder / "candidates.extxyz").exists():
            return
        self.log(f"iteration {k}/{c.iterations}: {name}: sampling {walks_text(c)}")
        spec = sampler.spec(c.walkers * c.moves, c.steps, seed=c.seed * 1000 + k)
        result = run_samplers([spec], {name: self.walker_starts(sampler, k)}, {name: sampler.factory(self.context(sampler, k))},
                              executor=self.executor, threads=resolve_threads(c.threads))[name]
        candidates = result["candidates"]
        reasons = [str(f.info.get("skmd_reason", "")) for f in candidates]
        stops = [int(f.info.get("skmd_step", -1)) for f, r in zip(candidates, reasons) if "threshold" in r]
        self.run.write_json(self.run.sampling(name, k), {
            "sample_s": result["seconds"], "n_candidates": len(candidates), "dropped": result["dropped"],
            "threshold_stops": len(stops), "threshold_stop_steps": stops, "left_out": result.get("left_out", []),
            "max_atomic_uncertainty": [float(f.info["max_atomic_uncertainty"]) for f in candidates
                                       if "max_atomic_uncertainty" in f.info],
            "trace": [row for records in result.get("records", []) for row in records]})
        if result.get("left_out"):
            self.log(f"iteration {k}: {name}: walkers {', '.join(map(str, result['left_out']))} were left "
                     "out of the others' Stein sum while their forces exceeded the force limit")
        ensemble, replaced = replace_dropped(result["ensemble"], result["dropped"], seed=c.seed * 1000 + k)
        if replaced:
            self.log(f"iteration {k}: {name}: {len(replaced)} walks were dropped; their walkers go on from "
                     f"rattled copies of other walkers' end points (walkers {', '.join(map(str, replaced))})")
        self.run.write_frames(folder / "ensemble.extxyz", ensemble)
        self.run.write_frames(folder / "candidates.extxyz", candidates)

    def select_and_label(self, sampler, k: int) -> dict:
        """Select iteration ``k``'s batch, label it (frames the oracle fails on replaced by the selector's
        next picks, with ``replace_failed``), and write the sampler's train/calibration files."""
        c, run, name = self.config, self.run, sampler.name
        folder = run.iteration(name, k)
        candidates = run.read_frames(folder / "candidates.extxyz")
        earlier = {kind: run.read_frames(run.data_file(name, k - 1, kind)) for kind in ("train", "calibration")}
        seen = earlier["train"] + earlier["calibration"]
        if not (folder / "selected.extxyz").exists():
            if not candidates:
                raise RuntimeError(f"{name} iteration {k}: every walk diverged; no candidates to label")
            if len(candidates) < c.select:
                self.log(f"iteration {k}: {name} has {len(candidates)} candidates, fewer than select "
                         f"{c.select}: all of them go to the oracle (more walkers give more candidates)")
            run.write_frames(folder / "selected.extxyz", self.picked(sampler, k, candidates, [], seen))
        selected = run.read_frames(folder / "selected.extxyz")
        started = time.perf_counter()
        labelled, failures = self.store.label(label_key(name, k), selected, warn=False)
        while c.replace_failed and failures and len(labelled) < c.select:
            more = self.picked(sampler, k, candidates, selected, seen, c.select - len(labelled))
            if not more:
                self.log(f"iteration {k}: {name}: {plural(len(failures), 'selected frame')} failed at the oracle and no "
                         f"candidate is left to replace them: {len(labelled)} of {c.select} labels")
                break
            self.log(f"iteration {k}: {name}: {plural(len(failures), 'selected frame')} failed at the oracle so "
                     f"far; {len(more)} more picked in their place")
            selected = selected + more
            run.write_frames(folder / "selected.extxyz", selected)
            labelled, failures = self.store.label(label_key(name, k), selected, warn=False)
        self.store.warn_failed(label_key(name, k), failures, len(selected))
        label_s = time.perf_counter() - started
        for frame in labelled:
            frame.info["skmd_source"] = label_key(name, k)
        train, calibration = split_labels(earlier["train"], earlier["calibration"], labelled, c, k)
        run.write_frames(run.data_file(name, k, "train"), train)
        run.write_frames(run.data_file(name, k, "calibration"), calibration)
        return {"n_selected": len(selected), "n_labelled": len(labelled), "n_failed": len(failures),
                "n_replacements": sum(bool(f.info.get(REPLACEMENT)) for f in selected),
                "label_s": label_s, "n_train": len(train), "n_calibration": len(calibration)}

    def picked(self, sampler, k: int, candidates: list, selected: list, seen: list, n: int | None = None) -> list:
        """The next ``n`` (default ``select``) candidates the selector picks, none of ``selected`` again, as
        copies tagged with their candidate index (``info["skmd_candidate"]``; replacements also
        ``info["skmd_replacement"]``). The selector sees ``seen`` and ``selected`` as labelled, so a
        replacement is the pick that would have come next. [] when no candidate is left, or when
        ``selected`` came from a run that did not tag its picks (its replacements would not be the next)."""
        taken = [frame.info.get(CANDIDATE) for frame in selected]
        if None in taken:
            return []
        rest = [i for i in range(len(candidates)) if i not in set(taken)]
        n = min(self.config.select if n is None else n, len(rest))
        if n == 0:
            return []
        context = SelectionContext(str(self.models(sampler, k - 1)[0]), seen + selected,
                                   self.config.seed * 1000 + k, self.config.ubmd_features,
                                   feature_layers=self.config.ubmd_feature_layers)
        pool = [candidates[i] for i in rest]
        picks = checked_picks(self.selector(pool, n, context), len(pool), n,
                              getattr(self.selector, "__name__", "selector"))
        frames = []
        for i in picks:
            frame = pool[i].copy()
            frame.info[CANDIDATE] = rest[i]
            if selected:
                frame.info[REPLACEMENT] = True
            frames.append(frame)
        return frames

    def train(self, sampler, k: int, m: int) -> float:
        """Train model ``m`` of the sampler on its training labels so far; returns the wall time (s)."""
        started, run, name = time.perf_counter(), self.run, sampler.name
        base, final = self.models(sampler, k - 1)[m], self.models(sampler, k)[m]
        if not final.is_file():
            self.log(f"iteration {k}: training {name} model {m + 1}/{sampler_models(sampler)}")
            trained = self.trainer(base, run.data_file(name, k, "train"), run.iteration(name, k) / f"training{m}",
                                   self.config.seed + 100 * k + m,
                                   **validation(self.config, run.data_file(name, k, "calibration")))
            kept(trained, final)
        return time.perf_counter() - started

    def score(self, sampler, k: int, test: list, prepared: dict, train_s: float) -> dict:
        """Score the sampler's new model on ``test`` and run the learning check (old and new model on the
        held-out labels), on the executor; write and return iteration ``k``'s metrics. ``prepared``: what
        :meth:`select_and_label` returned; ``train_s``: the wall time of its models' trainings, summed."""
        c, run, name, started = self.config, self.run, sampler.name, time.perf_counter()
        self.log(f"iteration {k}/{c.iterations}: {name}: scoring on {len(test)} test frames")
        validation_frames = run.read_frames(run.data_file(name, k, "calibration"))
        old, new = self.models(sampler, k - 1)[0], self.models(sampler, k)[0]
        runs_on = (resolve_threads(c.threads), resolve_device(c.device))
        tasks = [(new, test, *runs_on), (old, validation_frames, *runs_on), (new, validation_frames, *runs_on)]
        errors, before, after = run_tasks(score_model_file, tasks, executor=self.executor)
        sampling = run.read_json(run.sampling(name, k))
        check = learning.compare(before, after, seed=c.seed)
        metrics = {"iteration": k, **errors, **prepared, **sampling, "train_s": train_s,
                   "score_s": time.perf_counter() - started, "learning_check": check}
        previous = run.read_json(run.metrics(name, k - 1), {})
        self.log(learning.sentence(name, k, check, learning.test_change(previous, errors) if previous else ""))
        if sampling["max_atomic_uncertainty"]:
            self.log(crossing_sentence(name, metrics, c.walkers * c.moves))
        run.write_json(run.metrics(name, k), metrics)
        failed = (f" ({prepared['n_failed']} of {prepared['n_selected']} selected frames failed at the oracle, "
                  f"{prepared['n_replacements']} replaced)") if prepared["n_failed"] else ""
        self.log(f"iteration {k}: {name}: {prepared['n_labelled']} new labels{failed}; {errors_line(errors)}")
        return metrics


def run_iterations(stages: IterationStages, sampler, test: list, slots, label_lock) -> None:
    """Every iteration of ``sampler`` not finished yet, in order, each stage in a slot of ``slots``
    (:class:`~skmd.al.chains.Slots`); ``label_lock``: the label store is written by one chain at a time."""
    for k in range(1, stages.config.iterations + 1):
        if stages.run.finished(sampler.name, k):
            continue
        with slots.job():
            stages.sample(sampler, k)
        with label_lock, slots.job():
            prepared = stages.select_and_label(sampler, k)

        def train(m: int) -> float:
            with slots.training():
                return stages.train(sampler, k, m)

        n_models = sampler_models(sampler)
        with ThreadPoolExecutor(n_models) as members:      # a committee's members train side by side
            train_s = sum(members.map(train, range(n_models)))
        with slots.job():
            stages.score(sampler, k, test, prepared, train_s)


def sampler_chains(stages: IterationStages, samplers: list, test: list, slots) -> list:
    """One callable per sampler that runs its iterations (:func:`run_iterations`), committees first (they
    have more trainings to run), for :func:`skmd.al.chains.run_chains`."""
    label_lock = threading.Lock()
    order = sorted(samplers, key=sampler_models, reverse=True)
    return [partial(run_iterations, stages, sampler, test, slots, label_lock) for sampler in order]

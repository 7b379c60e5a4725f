"""The iterations of a campaign (see :mod:`skmd.al.campaign`): sample, select, label, train, score.

Files per sampler and iteration, under ``out/samplers/<name>/iterKK/``: ``candidates.extxyz`` and
``ensemble.extxyz`` with ``sampling.json`` (walks, drops, uncertainty stops, time), ``selected.extxyz``,
``train.extxyz`` and ``calibration.extxyz`` (all labels so far, disjoint), ``model<m>.safetensors`` and
``metrics.json`` (test errors, counts, wall time per stage). Each is written atomically and skipped when
present, so a rerun resumes.
"""
from __future__ import annotations

import json
import time


from ..tools.pool import thread_map
from ..tools.rundir import write_json
from . import learning
from .samplers import Context
from .splits import split_labels, validation
from .start import rattle_repeat


def _read(path) -> list:
    from ..atoms.store import read_frames  # noqa: PLC0415
    return read_frames(path) if path.exists() else []


def _write(path, frames) -> None:
    from ..atoms.store import atomic_write_frames  # noqa: PLC0415
    atomic_write_frames(path, frames)


class Loop:
    """The per-iteration stages of one campaign (``campaign``: a :class:`~skmd.al.campaign.Campaign`)."""

    def __init__(self, campaign, start: dict, members: dict):
        self.campaign, self.config, self.start, self.members = campaign, campaign.config, start, members

    def models(self, sampler, k: int) -> list:
        if k == 0:
            return self.members[sampler.name]
        return [self.campaign.folder(sampler.name, k) / f"model{m}.safetensors" for m in range(sampler_models(sampler))]

    def data_file(self, sampler, k: int, kind: str):
        """``train`` or ``calibration`` labels a sampler's models of iteration ``k`` were made with."""
        return (self.campaign.out / "start" if k == 0 else self.campaign.folder(sampler.name, k)) / f"{kind}.extxyz"

    def context(self, sampler, k: int) -> Context:
        return Context(tuple(str(p) for p in self.models(sampler, k - 1)), str(self.data_file(sampler, k - 1, "train")),
                       str(self.data_file(sampler, k - 1, "calibration")), self.config.pressure_GPa,
                       self.config.seed * 1000 + k)

    def ensemble(self, sampler, k: int) -> list:
        """Where iteration ``k``'s walkers start. ``starts: end``: perturbed copies of the structures (k = 1),
        then the walkers' own end points. ``starts: labelled``: frames labelled in iteration k − 1 (the
        starting labels for k = 1) that went to training, never a held-out one, so every start is a
        frame the uncertainty's posterior has seen."""
        from .start import bare_copies, perturbed_copies  # noqa: PLC0415
        c = self.config
        if c.starts == "labelled":
            train = _read(self.data_file(sampler, k - 1, "train"))
            source = "" if k == 1 else f"{sampler.name}/iter{k - 1:02d}"
            frames = [f for f in train if k == 1 or f.info.get("skmd_source") == source]
            if frames:
                return bare_copies(frames, c.walkers, c.seed * 1000 + k)
            self.campaign.log(f"iteration {k}: {sampler.name} has no labelled training frame of iteration {k - 1} "
                              "to start from; its walkers go on from their end points")
        if k > 1:
            return _read(self.campaign.folder(sampler.name, k - 1) / "ensemble.extxyz")
        return perturbed_copies(self.campaign.structures, c.walkers, c.perturb_A, 0.0, c.seed + 1)

    def sample(self, k: int) -> None:
        """Candidates of iteration ``k`` for every sampler without them, side by side on the executor."""
        from ..atoms.parallel import run_samplers  # noqa: PLC0415
        c = self.config
        pending = [s for s in self.campaign.samplers
                   if not (self.campaign.folder(s.name, k) / "candidates.extxyz").exists()]
        if not pending:
            return
        self.campaign.log(f"iteration {k}/{c.iterations}: sampling ({', '.join(s.name for s in pending)}, "
                          f"{c.walkers} walks of {c.steps} steps each)")
        specs = [s.spec(c.walkers, c.steps, seed=c.seed * 1000 + k) for s in pending]
        results = run_samplers(specs, {s.name: self.ensemble(s, k) for s in pending},
                               {s.name: s.factory(self.context(s, k)) for s in pending},
                               executor=self.campaign.executor)
        for name, result in results.items():
            folder = self.campaign.folder(name, k)
            candidates = result["candidates"]
            reasons = [str(f.info.get("skmd_reason", "")) for f in candidates]
            stops = [int(f.info.get("skmd_step", -1)) for f, r in zip(candidates, reasons) if "threshold" in r]
            write_json(folder / "sampling.json", {
                "sample_s": result["seconds"], "n_candidates": len(candidates), "dropped": result["dropped"],
                "threshold_stops": len(stops), "threshold_stop_steps": stops, "left_out": result.get("left_out", []),
                "max_atomic_uncertainty": [float(f.info["max_atomic_uncertainty"]) for f in candidates
                                           if "max_atomic_uncertainty" in f.info],
                "trace": [row for records in result.get("records", []) for row in records]})
            if result.get("left_out"):
                self.campaign.log(f"iteration {k}: {name}: walkers {', '.join(map(str, result['left_out']))} were left "
                                  "out of the others' Stein sum while their forces exceeded the force limit")
            ensemble, replaced = replace_dropped(result["ensemble"], result["dropped"], seed=c.seed * 1000 + k)
            if replaced:
                self.campaign.log(f"iteration {k}: {name}: {len(replaced)} walks were dropped; their walkers go on "
                                  f"from rattled copies of other walkers' end points (walkers {', '.join(map(str, replaced))})")
            _write(folder / "ensemble.extxyz", ensemble)
            _write(folder / "candidates.extxyz", candidates)

    def select_and_label(self, sampler, k: int) -> dict:
        """Select iteration ``k``'s batch, label it, and write the sampler's train/calibration files."""
        from .selection import SelectionContext, checked_picks  # noqa: PLC0415
        c, folder = self.config, self.campaign.folder(sampler.name, k)
        candidates = _read(folder / "candidates.extxyz")
        earlier = {kind: _read(self.data_file(sampler, k - 1, kind)) for kind in ("train", "calibration")}
        if not (folder / "selected.extxyz").exists():
            if not candidates:
                raise RuntimeError(f"{sampler.name} iteration {k}: every walk diverged; no candidates to label")
            context = SelectionContext(str(self.models(sampler, k - 1)[0]), earlier["train"] + earlier["calibration"],
                                       c.seed * 1000 + k, c.ubmd_features, feature_layers=c.ubmd_feature_layers)
            if len(candidates) < c.select:
                self.campaign.log(f"iteration {k}: {sampler.name} has {len(candidates)} candidates, fewer than select "
                                  f"{c.select}: all of them go to the oracle (more walkers give more candidates)")
            picks = checked_picks(self.campaign.selector(candidates, min(c.select, len(candidates)), context),
                                  len(candidates), c.select, getattr(self.campaign.selector, "__name__", "selector"))
            _write(folder / "selected.extxyz", [candidates[i] for i in picks])
        selected = _read(folder / "selected.extxyz")
        started = time.perf_counter()
        labelled, failures = self.campaign.store.label(f"{sampler.name}/iter{k:02d}", selected)
        label_s = time.perf_counter() - started
        for frame in labelled:
            frame.info["skmd_source"] = f"{sampler.name}/iter{k:02d}"
        train, calibration = split_labels(earlier["train"], earlier["calibration"], labelled, c, k)
        _write(folder / "train.extxyz", train)
        _write(folder / "calibration.extxyz", calibration)
        return {"n_selected": len(selected), "n_labelled": len(labelled), "n_failed": len(failures),
                "label_s": label_s, "n_train": len(train), "n_calibration": len(calibration)}

    def train(self, sampler, k: int, m: int) -> float:
        """Train model ``m`` of the sampler on its training labels so far; returns the wall time."""
        from .training import kept  # noqa: PLC0415
        started, folder = time.perf_counter(), self.campaign.folder(sampler.name, k)
        base, final = self.models(sampler, k - 1)[m], self.models(sampler, k)[m]
        if not final.is_file():
            self.campaign.log(f"iteration {k}: training {sampler.name} model {m + 1}/{sampler_models(sampler)}")
            trained = self.campaign.trainer(base, folder / "train.extxyz", folder / f"training{m}",
                                            self.config.seed + 100 * k + m, **validation(self.config, folder))
            kept(trained, final)
        return time.perf_counter() - started

    def train_all(self, samplers, k: int) -> list:
        """Train every model of ``samplers`` (a committee's members each on its own) side by side on
        ``workers`` threads; returns each sampler's summed training time."""
        jobs = [(s, m) for s in samplers for m in range(sampler_models(s))]
        seconds = thread_map(lambda job: self.train(job[0], k, job[1]), jobs, self.config.workers or 1)
        return [sum(t for (owner, _), t in zip(jobs, seconds) if owner is s) for s in samplers]


def replace_dropped(ensemble: list, dropped: list, seed: int = 0) -> tuple[list, list]:
    """The walkers to go on from: each walker whose walk was dropped (diverged) is replaced by a copy of a
    surviving walker's end point, in turn, rattled (:func:`~skmd.al.start.rattle_repeat`) so that no two
    walkers coincide (SKMD's kernel refuses identical members), and a start that diverges is not tried
    again in the next iteration; returns (ensemble, indices replaced). With no survivor the ensemble is
    returned as is."""
    bad = sorted({int(d["particle"]) for d in dropped if d.get("particle") is not None})
    good = [i for i in range(len(ensemble)) if i not in bad]
    if not bad or not good:
        return list(ensemble), []
    ensemble = list(ensemble)
    for n, i in enumerate(bad):
        ensemble[i] = ensemble[good[n % len(good)]].copy()
        rattle_repeat(ensemble[i], seed, i)
    return ensemble, bad


def sampler_models(sampler) -> int:
    """How many models a sampler's chain trains (1 unless it says otherwise, e.g. a committee)."""
    return int(getattr(sampler, "n_models", 1))


def run_campaign(campaign) -> dict:
    """Run (or resume) every stage of ``campaign``; write the outputs; return the results."""
    from ..atoms.scoring import score_model_file  # noqa: PLC0415
    from ..atoms.tasks import run_tasks  # noqa: PLC0415
    from .report import write_outputs  # noqa: PLC0415
    from .stages import committee_members, starting_data, starting_model  # noqa: PLC0415
    c, started, timing = campaign.config, time.perf_counter(), {}
    if (campaign.out / "start" / "split.json").exists():
        campaign.log(f"resuming the campaign in {campaign.out}: finished stages are read back, labels are not redone")
    if campaign.skmd_regime:
        campaign.log(campaign.skmd_regime)
    start = starting_data(campaign)
    test = campaign.test_frames or start["test"]
    model0 = starting_model(campaign, start["train"])
    members = {s.name: committee_members(campaign, model0, campaign.out / "start" / "train.extxyz", sampler_models(s))
               for s in campaign.samplers}
    start_timing = campaign.out / "start" / "timing.json"   # the invocation that finished the starting stage
    if not start_timing.exists():
        write_json(start_timing, {"start_s": time.perf_counter() - started})
    timing["start_s"] = json.loads(start_timing.read_text())["start_s"]
    initial_path = campaign.out / "model0" / "score.json"
    if not initial_path.exists():
        write_json(initial_path, run_tasks(score_model_file, [(model0, test, 1)], executor=campaign.executor)[0])
    loop = Loop(campaign, start, members)
    for k in range(1, c.iterations + 1):
        todo = [s for s in campaign.samplers if not (campaign.folder(s.name, k) / "metrics.json").exists()]
        if not todo:
            continue
        stage = time.perf_counter()
        loop.sample(k)
        sample_s = time.perf_counter() - stage
        prepared = {s.name: loop.select_and_label(s, k) for s in todo}
        train_s = loop.train_all(todo, k)
        stage = time.perf_counter()
        campaign.log(f"iteration {k}/{c.iterations}: scoring on {len(test)} test frames")
        tasks = [(loop.models(s, k)[0], test, 1) for s in todo]
        for s in todo:                       # the learning check: old and new model on held-out labels
            validation = _read(loop.data_file(s, k, "calibration"))
            tasks += [(loop.models(s, k - 1)[0], validation, 1), (loop.models(s, k)[0], validation, 1)]
        scores = run_tasks(score_model_file, tasks, executor=campaign.executor)
        score_s = time.perf_counter() - stage
        for index, (s, seconds) in enumerate(zip(todo, train_s)):
            errors, old, new = scores[index], *scores[len(todo) + 2 * index:len(todo) + 2 * index + 2]
            sampling = json.loads((campaign.folder(s.name, k) / "sampling.json").read_text())
            check = learning.compare(old, new, seed=c.seed)
            metrics = {"iteration": k, **errors, **prepared[s.name], **sampling, "train_s": seconds,
                       "score_s": score_s, "iteration_sample_s": sample_s, "learning_check": check}
            campaign.log(learning.sentence(s.name, k, check))
            if sampling["max_atomic_uncertainty"]:
                from .report import crossing_sentence  # noqa: PLC0415
                campaign.log(crossing_sentence(s.name, metrics, c.walkers))
            write_json(campaign.folder(s.name, k) / "metrics.json", metrics)
            campaign.log(f"iteration {k}: {s.name}: {prepared[s.name]['n_labelled']} new labels; test RMSE energy "
                         f"{errors['energy_rmse_meV_atom']:.1f} meV/atom, forces {errors['force_rmse_meV_A']:.1f} meV/Å"
                         + (f", stress {errors['stress_rmse_meV_A3']:.2f} meV/Å³" if "stress_rmse_meV_A3" in errors else "")
                         + (f"; worst basin {errors['worst_basin']['basin']} (forces "
                            f"{errors['worst_basin']['force_rmse_meV_A']:.1f} meV/Å)" if "worst_basin" in errors else ""))
    return write_outputs(campaign, loop, test, started, timing)

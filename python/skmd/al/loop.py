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


from ..tools.rundir import write_json
from ..tools.device import resolve_device
from ..tools.threads import resolve_threads
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
                       self.config.seed * 1000 + k, resolve_device(self.config.device))

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

    def sample(self, sampler, k: int) -> None:
        """Candidates of iteration ``k`` for ``sampler`` (one task on the executor), unless already there."""
        from ..atoms.parallel import run_samplers  # noqa: PLC0415
        c, folder = self.config, self.campaign.folder(sampler.name, k)
        if (folder / "candidates.extxyz").exists():
            return
        self.campaign.log(f"iteration {k}/{c.iterations}: {sampler.name}: sampling {c.walkers} walks of {c.steps} "
                          "steps each")
        spec = sampler.spec(c.walkers, c.steps, seed=c.seed * 1000 + k)
        result = run_samplers([spec], {sampler.name: self.ensemble(sampler, k)},
                              {sampler.name: sampler.factory(self.context(sampler, k))},
                              executor=self.campaign.executor, threads=resolve_threads(c.threads))[sampler.name]
        candidates, name = result["candidates"], sampler.name
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
            self.campaign.log(f"iteration {k}: {name}: {len(replaced)} walks were dropped; their walkers go on from "
                              "rattled copies of other walkers' end points (walkers "
                              f"{', '.join(map(str, replaced))})")
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

    def test_errors(self, sampler, k: int) -> dict:
        """The test RMSEs of the sampler's model of iteration ``k`` (0: the starting model), or {} if not scored."""
        path = self.campaign.out / "model0" / "score.json" if k == 0 else \
            self.campaign.folder(sampler.name, k) / "metrics.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def score(self, sampler, k: int, test: list, prepared: dict, train_s: float) -> dict:
        """Score the sampler's new model on ``test`` and run the learning check (old and new model on the
        held-out labels), on the executor; write and return iteration ``k``'s metrics. ``prepared``: what
        :meth:`select_and_label` returned; ``train_s``: the wall time of its models' trainings, summed."""
        from ..atoms.scoring import score_model_file  # noqa: PLC0415
        from ..atoms.tasks import run_tasks  # noqa: PLC0415
        c, name, started = self.config, sampler.name, time.perf_counter()
        self.campaign.log(f"iteration {k}/{c.iterations}: {name}: scoring on {len(test)} test frames")
        validation_frames = _read(self.data_file(sampler, k, "calibration"))
        old, new = self.models(sampler, k - 1)[0], self.models(sampler, k)[0]
        runs_on = (resolve_threads(c.threads), resolve_device(c.device))
        tasks = [(new, test, *runs_on), (old, validation_frames, *runs_on), (new, validation_frames, *runs_on)]
        errors, before, after = run_tasks(score_model_file, tasks, executor=self.campaign.executor)
        sampling = json.loads((self.campaign.folder(name, k) / "sampling.json").read_text())
        check = learning.compare(before, after, seed=c.seed)
        metrics = {"iteration": k, **errors, **prepared, **sampling, "train_s": train_s,
                   "score_s": time.perf_counter() - started, "learning_check": check}
        previous = self.test_errors(sampler, k - 1)
        self.campaign.log(learning.sentence(name, k, check, learning.test_change(previous, errors) if previous else ""))
        if sampling["max_atomic_uncertainty"]:
            from .report import crossing_sentence  # noqa: PLC0415
            self.campaign.log(crossing_sentence(name, metrics, c.walkers))
        write_json(self.campaign.folder(name, k) / "metrics.json", metrics)
        self.campaign.log(f"iteration {k}: {name}: {prepared['n_labelled']} new labels; {_errors_line(errors)}")
        return metrics


def _errors_line(errors: dict) -> str:
    """A score's test errors in words (energy, forces, stress where scored, the worst basin where there are basins)."""
    line = (f"test RMSE energy {errors['energy_rmse_meV_atom']:.1f} meV/atom, "
            f"forces {errors['force_rmse_meV_A']:.1f} meV/Å")
    if "stress_rmse_meV_A3" in errors:
        line += f", stress {errors['stress_rmse_meV_A3']:.2f} meV/Å³"
    if "worst_basin" in errors:
        worst = errors["worst_basin"]
        line += f"; worst basin {worst['basin']} (forces {worst['force_rmse_meV_A']:.1f} meV/Å)"
    return line


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

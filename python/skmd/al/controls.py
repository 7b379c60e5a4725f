"""Controls that say what a campaign's gain is worth, trained as its samplers' chains are.

A control is a chain of fine-tunings with the campaign's own trainer, training seeds and label split,
from the campaign's starting model, whose labels do not come from a sampler:

* :func:`labels_chain` with no batches: **no new labels**, what continued training alone gives;
* :func:`labels_chain` with batches of ideal labels (e.g. frames drawn evenly from thermal oracle MD in
  every basin), ``select`` per iteration: the **ideal-data** model at equal labels, iteration by iteration;
* :func:`retrained`: a sampler's final model trained again with another training seed, for **training noise**.

Each writes under ``<out>/controls/<name>/`` (models, ``metrics.json`` per iteration: the test errors of
:func:`~skmd.atoms.scoring.score` without per-frame lists, the labels trained on) and skips what exists, so
it resumes as a campaign does. Units as :mod:`skmd.tools.error_units`.
"""
from __future__ import annotations

from pathlib import Path

from ..atoms.scoring import score_model_file
from ..tools.device import resolve_device
from ..tools.threads import resolve_threads
from .run_dir import RunDir, label_key
from .splits import split_labels, validation
from .training import kept

#: the ``info["skmd_source"]`` of a control's labels (its own early-stopping batch, as a sampler's labels are)
CONTROL_SOURCE = "control/{name}/iter{k:02d}"


def _folder(run: RunDir, name: str, k: int) -> Path:
    return run.root / "controls" / name / f"iter{k:02d}"


def _score(model: Path, test: list, config) -> dict:
    errors = score_model_file(model, test, resolve_threads(config.threads), resolve_device(config.device))
    return {key: value for key, value in errors.items() if key != "per_frame"}


def labels_chain(run: RunDir, config, trainer, name: str, batches: list, test: list, log=print) -> list:
    """``config.iterations`` fine-tunings from the starting model, iteration k on the starting training labels
    plus the training share of ``batches[0..k−1]`` (split as a sampler's labels are,
    :func:`~skmd.al.splits.split_labels`), seed ``seed + 100 k`` as the samplers'; [] batches: no new labels.
    Returns each iteration's metrics (test errors, ``n_train``, ``n_new_labels``)."""
    if batches and len(batches) < config.iterations:
        raise ValueError(f"control {name}: {len(batches)} batches of labels for {config.iterations} iterations")
    train, calibration = run.read_frames(run.start_file("train")), run.read_frames(run.start_file("calibration"))
    model, metrics = run.starting_models(1)[0], []
    for k in range(1, config.iterations + 1):
        folder = _folder(run, name, k)
        if batches:
            new = [frame.copy() for frame in batches[k - 1]]
            for frame in new:
                frame.info["skmd_source"] = CONTROL_SOURCE.format(name=name, k=k)
            train, calibration = split_labels(train, calibration, new, config, k)
        final = folder / "model.safetensors"
        if not (folder / "metrics.json").exists():
            run.write_frames(folder / "train.extxyz", train)
            run.write_frames(folder / "calibration.extxyz", calibration)
            if not final.is_file():
                log(f"control {name}: iteration {k}: training on {len(train)} labels")
                trained = trainer(model, folder / "train.extxyz", folder / "training", config.seed + 100 * k,
                                  **validation(config, folder / "calibration.extxyz"))
                kept(trained, final)
            run.write_json(folder / "metrics.json", {"iteration": k, **_score(final, test, config),
                                                     "n_train": len(train),
                                                     "n_new_labels": sum(len(b) for b in batches[:k])})
        metrics.append(run.read_json(folder / "metrics.json"))
        model = final
    return metrics


def retrained(run: RunDir, config, trainer, sampler: str, test: list, seed_offset: int = 1, log=print) -> dict:
    """The sampler's last fine-tuning again, from its model before it on the same labels, with training seed
    ``seed + 100 K + seed_offset`` (K: the last iteration) instead of ``seed + 100 K``; its test errors."""
    k = config.iterations
    folder = run.root / "controls" / f"{sampler}-seed{seed_offset}"
    if not (folder / "metrics.json").exists():
        final = folder / "model.safetensors"
        if not final.is_file():
            log(f"control: {sampler}'s final model, training seed + {seed_offset}")
            base = run.models(sampler, k - 1, 1)[0]
            trained = trainer(base, run.data_file(sampler, k, "train"), folder / "training",
                              config.seed + 100 * k + seed_offset,
                              **validation(config, run.data_file(sampler, k, "calibration")))
            kept(trained, final)
        run.write_json(folder / "metrics.json", {"iteration": k, "sampler": sampler, "source": label_key(sampler, k),
                                                 "seed_offset": seed_offset, **_score(final, test, config)})
    return run.read_json(folder / "metrics.json")

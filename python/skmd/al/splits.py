"""How a campaign's labels are split between training and calibration (held out for the uncertainty's
conformal calibration and, with ``calibration: random``, for the trainer's early stopping), and how the
built-in trainer splits its training labels for early stopping otherwise (:func:`early_stopping_split`)."""
from __future__ import annotations

import zlib

import numpy as np


def split_labels(train: list, calibration: list, labelled: list, config, k: int) -> tuple[list, list]:
    """(training, calibration) labels after iteration ``k``. ``calibration: fixed``: the new labels are split
    once (``calibration_fraction`` of them held out) and added to the earlier sets, so a label keeps its side.
    ``calibration: random``: all labels so far are split afresh at random (seeded by ``seed`` and ``k``); the
    held-out part calibrates the uncertainty and is the trainer's early-stopping (validation) set too."""
    rng = np.random.default_rng([config.seed, k, 17])
    if config.calibration == "random":
        pool = train + calibration + labelled
        held = set(rng.permutation(len(pool))[:max(1, round(config.calibration_fraction * len(pool)))].tolist())
        return [f for i, f in enumerate(pool) if i not in held], [pool[i] for i in sorted(held)]
    held = set(rng.permutation(len(labelled))[:int(round(config.calibration_fraction * len(labelled)))].tolist())
    return (train + [f for i, f in enumerate(labelled) if i not in held],
            calibration + [labelled[i] for i in sorted(held)])


def validation(config, calibration_file) -> dict:
    """The trainer's keyword for its early-stopping set: ``valid_file`` (``calibration_file``, the held-out
    labels) when the calibration split is random, else nothing (the trainer holds out ``valid_fraction``
    itself; the built-in one by :func:`early_stopping_split`)."""
    return {"valid_file": calibration_file} if config.calibration == "random" else {}


def early_stopping_split(frames: list, valid_fraction: float, seed: int) -> tuple[list, list]:
    """(fit, valid) of training ``frames`` for early stopping, batch by batch.

    A batch is the frames sharing ``info["skmd_source"]`` (the starting labels, or one sampler's labels
    of one iteration). From each, ``floor(valid_fraction × size)`` frames validate, drawn by a generator
    seeded by ``seed`` and the batch's name, so a label keeps its side as later batches are added, and a
    small batch (fewer than ``1 / valid_fraction`` labels) trains whole: the newest labels are never all
    held out, as mace's own random split over all frames can do. Both lists keep the frames' order.
    """
    batches = {}
    for index, frame in enumerate(frames):
        batches.setdefault(str(frame.info.get("skmd_source", "")), []).append(index)
    held = set()
    for source, members in batches.items():
        rng = np.random.default_rng([int(seed), zlib.crc32(source.encode())])
        held.update(members[j] for j in rng.permutation(len(members))[:int(valid_fraction * len(members))])
    return [f for i, f in enumerate(frames) if i not in held], [frames[i] for i in sorted(held)]

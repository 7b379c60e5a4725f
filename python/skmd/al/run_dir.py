"""A campaign's run directory: every path in it, its atomic reads and writes, and its label keys.

Layout (``root`` is the campaign's ``out``)::

    config.json  runs.json  results.json  report.md  learning_curves.png
    training_set.extxyz  test_set.extxyz
    labels/                          the label store (skmd.atoms.store), one job per label key
    start/frames.extxyz              perturbed copies of the structures, labelled under key "start"
    start/split.json                 which of them test, calibrate and train
    start/{train,calibration,test}.extxyz  start/e0s.json  start/timing.json
    model0/model.safetensors         the starting model; model0/member<m>.safetensors: committee members
    model0/score.json                the starting model's test errors
    samplers/<name>/iter<KK>/        one sampler's iteration k: candidates, ensemble, sampling.json,
                                     selected, train, calibration, model<m>.safetensors, metrics.json

Every file is written atomically (a temporary file, then a rename), so a killed campaign leaves each
file whole or absent, and a stage whose output exists is not run again.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..tools.files import atomic_write_frames, read_frames
from ..tools.rundir import write_json

#: the label key of the starting labels (the perturbed copies of the structures)
START_KEY = "start"


def label_key(sampler: str, k: int) -> str:
    """The label key (a label-store job, and each label's ``info["skmd_source"]``) of a sampler's
    iteration ``k``: ``"<sampler>/iterKK"``."""
    return f"{sampler}/iter{k:02d}"


class RunDir:
    """The paths of one campaign's run directory (see the module docstring) and their reads and writes."""

    def __init__(self, root):
        self.root = Path(root)

    # the whole run
    @property
    def labels(self) -> Path:
        return self.root / "labels"

    @property
    def runs(self) -> Path:
        return self.root / "runs.json"

    @property
    def results(self) -> Path:
        return self.root / "results.json"

    @property
    def report(self) -> Path:
        return self.root / "report.md"

    @property
    def learning_curves(self) -> Path:
        return self.root / "learning_curves.png"

    @property
    def training_set(self) -> Path:
        return self.root / "training_set.extxyz"

    @property
    def test_set(self) -> Path:
        return self.root / "test_set.extxyz"

    # the starting stage
    @property
    def start(self) -> Path:
        return self.root / "start"

    def start_file(self, kind: str) -> Path:
        """``start/<kind>.extxyz``: ``frames`` (unlabelled copies), ``train``, ``calibration`` or ``test``."""
        return self.start / f"{kind}.extxyz"

    @property
    def split(self) -> Path:
        return self.start / "split.json"

    @property
    def e0s(self) -> Path:
        return self.start / "e0s.json"

    @property
    def start_timing(self) -> Path:
        return self.start / "timing.json"

    @property
    def model0_dir(self) -> Path:
        return self.root / "model0"

    @property
    def initial_score(self) -> Path:
        return self.model0_dir / "score.json"

    def starting_models(self, n_models: int) -> list:
        """The models a chain of ``n_models`` starts from: ``model0/model.safetensors``, then members 1, 2, …"""
        return [self.model0_dir / "model.safetensors",
                *(self.model0_dir / f"member{m}.safetensors" for m in range(1, n_models))]

    # a sampler's iterations
    def iteration(self, sampler: str, k: int) -> Path:
        """The folder of ``sampler``'s iteration ``k`` (k ≥ 1)."""
        return self.root / "samplers" / sampler / f"iter{k:02d}"

    def sampling(self, sampler: str, k: int) -> Path:
        """``sampling.json`` of the sampler's iteration ``k``: its walks, drops, stops and trace rows."""
        return self.iteration(sampler, k) / "sampling.json"

    def models(self, sampler: str, k: int, n_models: int) -> list:
        """The sampler's models after iteration ``k`` (k = 0: the starting models)."""
        if k == 0:
            return self.starting_models(n_models)
        return [self.iteration(sampler, k) / f"model{m}.safetensors" for m in range(n_models)]

    def data_file(self, sampler: str, k: int, kind: str) -> Path:
        """The ``train`` or ``calibration`` labels the sampler's models of iteration ``k`` were made with
        (k = 0: the starting labels)."""
        return (self.start if k == 0 else self.iteration(sampler, k)) / f"{kind}.extxyz"

    def metrics(self, sampler: str, k: int) -> Path:
        """The scores of the sampler's model of iteration ``k`` (k = 0: the starting model's)."""
        return self.initial_score if k == 0 else self.iteration(sampler, k) / "metrics.json"

    def finished(self, sampler: str, k: int) -> bool:
        """Whether the sampler's iteration ``k`` is done (its metrics are written last)."""
        return self.metrics(sampler, k).exists()

    # reads and writes
    @staticmethod
    def read_frames(path) -> list:
        """The frames of an extxyz file of the run, or [] where it is not written yet."""
        return read_frames(path) if Path(path).exists() else []

    @staticmethod
    def write_frames(path, frames) -> None:
        atomic_write_frames(path, frames)

    @staticmethod
    def read_json(path, default=None):
        """A JSON file of the run, or ``default`` where it is not written yet."""
        path = Path(path)
        return json.loads(path.read_text()) if path.exists() else default

    @staticmethod
    def write_json(path, payload) -> None:
        write_json(path, payload)

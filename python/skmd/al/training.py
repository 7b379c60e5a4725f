"""How a campaign trains its models: mace's own ``mace_run_train`` (:mod:`skmd.atoms.training`).

A trainer is any callable ``trainer(base, train_file, work_dir, seed) -> path`` that returns a model in
skmd's safe format (``.safetensors``); ``base`` is the model to start from, or None to train from
scratch. :class:`MACETrainer` is the built-in one: ``full`` fine-tunes every weight of ``base``,
``lora`` trains rank-4 adapters merged into it, ``multihead`` fine-tunes every weight while replaying
``replay`` (labelled frames of ``base``'s own data) in a second head and keeps the new head only
(:mod:`skmd.atoms.training`), ``scratch`` ignores ``base`` and trains a new MACE.
Fine-tuning always runs on all labels so far (the starting data included), and mace_run_train keeps
the best checkpoint on a validation set. :class:`MACETrainer` holds out ``valid_fraction`` of each
batch of labels for it (:func:`skmd.al.splits.early_stopping_split`: a label keeps its side from
iteration to iteration, and a small batch trains whole). With ``calibration: random`` the campaign
calls ``trainer(..., valid_file=PATH)``: that iteration's held-out calibration labels are the
validation (early-stopping) set instead, so a trainer used with it takes that keyword.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..atoms.store import atomic_write_frames, read_frames
from ..atoms.training import (
    FinetuneSettings,
    SurrogateSettings,
    check_dtype,
    finetune,
    train_surrogate,
)
from ..tools.device import resolve_device
from ..tools.threads import resolve_threads
from .run_dir import RunDir
from .splits import early_stopping_split


@dataclass(frozen=True)
class MACETrainer:
    """mace_run_train with the campaign's settings; ``e0s``: {Z: isolated-atom energy in eV} from the oracle;
    ``replay``: the extxyz file mode ``multihead`` replays (None for the other modes); ``lr``: a fine-tuning's
    first-stage learning rate, its second stage at a tenth of it; ``device``: "cpu" or "cuda", where mace
    trains; ``threads``: the threads of each mace_run_train process (its own environment)."""

    mode: str = "full"
    e0s: dict = field(default_factory=dict)
    epochs: int = 20
    scratch_epochs: int = 60
    channels: int = 32
    valid_fraction: float = 0.1
    stress_weight: float = 0.0
    replay: str | None = None
    dtype: str = "float64"   # the precision mace_run_train trains in (skmd.atoms.training.TRAINING_DTYPES)
    lr: float = 0.01         # first-stage learning rate of a fine-tuning; the second stage runs at a tenth
    split_seed: int = 0      # seeds the per-batch early-stopping split (the campaign passes its seed)
    device: str = "cpu"      # mace_run_train's --device
    threads: int = 1         # OMP/MKL/OpenBLAS and torch threads of each mace_run_train process
    keep_files: bool = False  # keep mace's pickles and checkpoints in work_dir (skmd reads only the .safetensors)

    def __post_init__(self):
        check_dtype(self.dtype)

    def __call__(self, base, train_file, work_dir, seed: int, valid_file=None):
        trained = self._train(base, train_file, work_dir, seed, valid_file)
        if not self.keep_files:
            prune_training_files(work_dir)
        return trained

    def _train(self, base, train_file, work_dir, seed: int, valid_file=None):
        if valid_file is None:
            train_file, valid_file = self.early_stopping_files(train_file, work_dir)
        if base is None or self.mode == "scratch":
            settings = SurrogateSettings(channels=self.channels, epochs=self.scratch_epochs,
                                         valid_fraction=self.valid_fraction, stress_weight=self.stress_weight,
                                         dtype=self.dtype)
            return train_surrogate(train_file, work_dir, self.e0s, settings, seed=seed, name="model",
                                   valid_file=valid_file, device=self.device, threads=self.threads)
        settings = FinetuneSettings(mode=self.mode, epochs=self.epochs, switch_epoch=max(1, self.epochs // 2),
                                    lr=self.lr, stage_two_lr=self.lr / 10,
                                    valid_fraction=self.valid_fraction, stress_weight=self.stress_weight,
                                    e0s=self.e0s or None, replay_file=self.replay, dtype=self.dtype)
        return finetune(base, train_file, work_dir, settings, seed=seed, name="model", valid_file=valid_file,
                        device=self.device, threads=self.threads)

    def early_stopping_files(self, train_file, work_dir) -> tuple:
        """(fit file, valid file) in ``work_dir`` from :func:`~skmd.al.splits.early_stopping_split` of
        ``train_file``; (``train_file``, None), mace's own split, where no batch is large enough to give one
        (and where ``train_file`` is missing, so that the training reports it after checking the base model)."""
        if not Path(train_file).is_file():
            return train_file, None
        fit, valid = early_stopping_split(read_frames(train_file), self.valid_fraction, self.split_seed)
        if not valid or len(fit) < 2:
            return train_file, None
        work_dir = Path(work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_frames(work_dir / "fit.extxyz", fit)
        atomic_write_frames(work_dir / "valid.extxyz", valid)
        return work_dir / "fit.extxyz", work_dir / "valid.extxyz"


def builtin_trainer(config, e0s: dict) -> MACETrainer:
    """The :class:`MACETrainer` a :class:`~skmd.al.config.CampaignConfig` describes. Multi-head fine-tuning
    replays ``config.replay``, or, for a surrogate the campaign trained itself, its own training labels
    (``<out>/start/train.extxyz``)."""
    replay = None
    if config.finetune == "multihead":
        replay = config.replay or str(RunDir(config.out).start_file("train"))
    return MACETrainer(mode=config.finetune, e0s=dict(e0s), epochs=config.finetune_epochs,
                       scratch_epochs=config.surrogate_epochs, channels=config.model_channels,
                       valid_fraction=config.valid_fraction, stress_weight=config.stress_weight if config.npt else 0.0,
                       replay=replay, dtype=config.training_dtype, lr=config.finetune_lr, split_seed=config.seed,
                       device=resolve_device(config.device), threads=resolve_threads(config.threads),
                       keep_files=config.keep_training_files)


def prune_training_files(work_dir) -> None:
    """Remove what mace_run_train leaves in ``work_dir`` and skmd never reads: its ``.model`` pickles (the
    trained model, compiled copies, the foundation model it started from), ``checkpoints/`` and
    ``results/``. The safe model, mace's logs and the data files stay."""
    work_dir = Path(work_dir)
    for pickle in work_dir.glob("*.model"):
        pickle.unlink(missing_ok=True)
    for folder in ("checkpoints", "results"):
        shutil.rmtree(work_dir / folder, ignore_errors=True)


def kept(trained, final):
    """Put a trained model at ``final`` atomically (a crash leaves either nothing or the whole file): moved
    when it was trained inside ``final``'s folder (the campaign's own training folder: one copy on disk),
    copied from anywhere else (a file a user's trainer returned stays where it is)."""
    trained, final = Path(trained), Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.parent.resolve() in trained.resolve().parents:
        trained.replace(final)
    else:
        shutil.copyfile(trained, final.with_suffix(".tmp"))
        final.with_suffix(".tmp").replace(final)
    return final

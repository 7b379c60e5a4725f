"""The settings of :mod:`skmd.atoms.training` (``mace_run_train``): a surrogate trained from scratch and a
fine-tuning (E.2's two stages), as dataclasses checked on construction. Light on purpose (no numpy, ase or
torch), so that the campaign's config checks share :data:`FINETUNE_MODES` and :data:`TRAINING_DTYPES` with
the trainer."""
from __future__ import annotations

from dataclasses import dataclass

from .checks import FLOAT_DTYPES, float_dtype

#: how a model is fine-tuned (see :class:`FinetuneSettings`); a campaign adds "scratch" (retrain from scratch)
FINETUNE_MODES = ("lora", "full", "multihead")
#: the floating-point types mace_run_train may train in (its ``--default_dtype``); the saved model is float64 either way
TRAINING_DTYPES = FLOAT_DTYPES


def check_dtype(dtype: str) -> str:
    """``dtype`` if it is one of :data:`TRAINING_DTYPES`; else a one-line ValueError."""
    return float_dtype("training dtype", dtype)


@dataclass
class SurrogateSettings:
    """A MACE trained from scratch (the paper's surrogate: 32 invariant channels, 2 layers)."""

    channels: int = 32
    max_L: int = 0
    num_interactions: int = 2
    r_max: float = 5.0
    epochs: int = 200
    batch_size: int = 10
    lr: float = 0.01
    forces_weight: float = 100.0
    energy_weight: float = 1.0
    valid_fraction: float = 0.1
    stress_weight: float = 0.0   # > 0: also fit REF_stress (periodic data) with this loss weight
    dtype: str = "float64"       # mace_run_train's --default_dtype (see TRAINING_DTYPES)
    patience: int | None = None  # stop after this many epochs without a better validation loss (None: mace's)

    def __post_init__(self):
        check_dtype(self.dtype)


@dataclass
class FinetuneSettings:
    """Fine-tuning of E.2: two stages of loss weights and learning rates, LoRA rank 4 by default.

    ``mode``: "lora", "full" or "multihead" (full fine-tuning with ``replay_file`` replayed in a second
    head; see the module docstring).
    """

    mode: str = "lora"
    epochs: int = 100
    switch_epoch: int = 50
    lora_rank: int = 4
    lora_alpha: float = 1.0
    batch_size: int = 10
    forces_weight: float = 1000.0
    energy_weight: float = 40.0
    lr: float = 0.01
    stage_two_forces_weight: float = 10.0
    stage_two_energy_weight: float = 1000.0
    stage_two_lr: float = 0.001
    valid_fraction: float = 0.1
    stress_weight: float = 0.0   # > 0: also fit REF_stress (periodic data), in both stages
    e0s: dict | None = None      # {Z: eV}; None: the foundation model's own (see foundation_e0s)
    replay_file: str | None = None   # mode "multihead": extxyz of labelled frames of the base model's data
    dtype: str = "float64"       # mace_run_train's --default_dtype (see TRAINING_DTYPES)

    def __post_init__(self):
        check_dtype(self.dtype)
        if self.mode not in FINETUNE_MODES:
            raise ValueError(f"fine-tuning mode must be one of {', '.join(FINETUNE_MODES)}, got {self.mode!r}")
        if self.mode == "multihead" and self.replay_file is None:
            raise ValueError("fine-tuning mode 'multihead' needs a replay_file (labelled frames of the base "
                             "model's data)")
        if self.mode != "multihead" and self.replay_file is not None:
            raise ValueError(f"a replay_file is used only by fine-tuning mode 'multihead', not {self.mode!r}")
        if not 0 < self.switch_epoch <= self.epochs:
            raise ValueError(f"switch_epoch must lie in (0, epochs={self.epochs}], got {self.switch_epoch}")

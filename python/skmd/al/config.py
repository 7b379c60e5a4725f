"""Settings of an active-learning campaign (``skmd al``), and the YAML file that may hold them.

Units: K, GPa, fs, Å, eV; uncertainties in eV/Å. Every field is also a flag of ``skmd al`` (``_`` as
``-``), and a ``--config`` YAML file may set any of them by the field's name; flags given on the
command line win. Nothing here imports numpy, so the command line stays fast.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from ..tools.checks import float_dtype, non_negative, positive, positive_int
from ..uncertainty.feature_layers import DEFAULT_FEATURE_LAYERS, check_feature_layers
from ..uncertainty.methods import METHODS
from .sampler_names import SAMPLERS, _sampler_order, md_temperature, sampler_kind  # noqa: F401

SELECTIONS = ("fps", *METHODS)
FINETUNE_MODES = ("full", "lora", "scratch", "multihead")
#: where walkers of iteration k > 1 start: their own end points of k − 1, or its labelled training frames
STARTS = ("end", "labelled")
#: how labels are split for calibration: fixed once per label (``fixed``), or drawn afresh at random
#: from all labels every iteration and used as the early-stopping set too (``random``)
CALIBRATION_SPLITS = ("fixed", "random")
#: bounds that keep a typo from running for hours (a value outside says so in one line)
MAX_PRESSURE_GPA, MAX_TEMPERATURE_K = 1000.0, 1.0e5


@dataclass(frozen=True)
class CampaignConfig:
    """One campaign: where it starts, what labels it, how it samples, selects and trains.

    ``structures``: an ASE-readable file of starting structures (all frames are used). ``oracle``:
    ``"module:function"`` returning an ASE calculator. ``model``: a MACE model to start from
    (skmd's ``.safetensors``, or a ``.model`` pickle with ``trust_model``); without one a surrogate
    is trained on oracle labels of ``start_frames`` perturbed copies (``perturb_A`` Å rattle,
    ``perturb_strain`` relative cell strain for periodic cells). ``pressure_GPa`` set: NPT, stress
    labels and a stress loss; else NVT. ``test``: a labelled extxyz file to score on; without one the
    ``test_fraction`` of the starting labels is held out for it. ``max_volume_ratio``: the factor (> 1)
    by which a walk's cell volume may grow or shrink within one walk before every sampler's divergence
    check drops the walk (:class:`~skmd.atoms.divergence.DivergenceCheck`); raise it to let a cell expand.
    ``finetune_lr``: the learning rate of a fine-tuning's first stage (its second stage runs at a tenth of it).
    """

    structures: str = ""
    oracle: str = "skmd.atoms.oracle:gfn2_xtb"
    out: str = "runs/al"
    model: str | None = None
    trust_model: bool = False
    samplers: tuple = ("md",)
    temperature_K: float = 300.0
    pressure_GPa: float | None = None
    iterations: int = 3
    walkers: int = 8
    steps: int = 200
    select: int = 4
    selection: str = "fps"
    finetune: str = "full"
    replay: str | None = None
    test: str | None = None
    seed: int = 0
    timestep_fs: float = 1.0
    damping_fs: float = 100.0
    start_frames: int = 48
    perturb_A: float = 0.05
    perturb_strain: float = 0.02
    test_fraction: float = 0.25
    valid_fraction: float = 0.1
    calibration_fraction: float = 0.2
    model_channels: int = 32
    surrogate_epochs: int = 60
    finetune_epochs: int = 20
    finetune_lr: float = 0.01
    stress_weight: float = 100.0
    skmd_amplitude: float = 3.0
    skmd_ud_amplitude: float | None = None        # skmd-ud's own amplitude; None: skmd_amplitude
    skmd_timestep_fs: float = 0.1
    skmd_friction: float = 75.0
    ubmd_tau: float = 0.2
    ubmd_threshold: float = 1.5
    ubmd_features: int = 512
    ubmd_alpha: float = 0.1
    ubmd_window: int = 50
    ubmd_tau_stress: float | None = None
    ubmd_interval: int | None = None
    ubmd_element_weights: dict = field(default_factory=dict)
    ubmd_feature_layers: str = DEFAULT_FEATURE_LAYERS
    starts: str = "end"
    calibration: str = "fixed"
    udd_members: int = 3
    udd_A: float = 0.57
    udd_B: float = 0.005
    sampling_dtype: str = "float64"
    training_dtype: str = "float64"               # mace_run_train's --default_dtype for every model trained
    skmd_explore_fraction: float | None = None
    trace: str | None = None
    trace_interval: int = 10
    max_volume_ratio: float = 3.0
    label_batch: int = 1
    workers: int | None = None
    dask_scheduler: str | None = None
    preset: str | None = None                     # the preset these settings started from (recorded)
    extra: dict = field(default_factory=dict)     # a user's own settings, recorded with the run

    def starting_train_frames(self, start_frames: int) -> int:
        """The starting labels left to train on out of ``start_frames``, after the test (unless a test set is
        given) and calibration splits."""
        fractions = (self.calibration_fraction,) if self.test else (self.test_fraction, self.calibration_fraction)
        return start_frames - sum(max(1, round(f * start_frames)) for f in fractions)

    def trains_and_validates(self, start_frames: int) -> bool:
        """Whether ``start_frames`` leaves at least 2 frames to train on and 1 for mace's validation split."""
        n_train = self.starting_train_frames(start_frames)
        return n_train >= 2 and int(self.valid_fraction * n_train) >= 1

    def validate(self) -> "CampaignConfig":
        """Cheap checks, before any file is read or any work done; ValueError with one line."""
        positive_int("seed", self.seed, minimum=0)
        if not self.structures:
            raise ValueError("no starting structures: give --structures FILE (any format ASE reads), "
                             "or --preset NAME")
        unknown = [name for name in self.samplers if sampler_kind(name) is None]
        if not self.samplers or unknown or len(set(self.samplers)) != len(self.samplers):
            raise ValueError(f"samplers must be distinct names among {', '.join(SAMPLERS)} (md<T>: plain MD at T K, "
                             f"e.g. md700); got {list(self.samplers)}")
        check_feature_layers(self.ubmd_feature_layers, "ubmd_feature_layers")
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, got {self.selection!r}")
        if self.finetune not in FINETUNE_MODES:
            raise ValueError(f"finetune must be one of {', '.join(FINETUNE_MODES)}, got {self.finetune!r}")
        if self.finetune == "multihead" and self.model is not None and self.replay is None:
            raise ValueError("finetune multihead with --model needs --replay FILE (labelled frames of the base "
                             "model's own data, replayed in a head of their own); without --model the surrogate's "
                             "own training labels are replayed")
        if self.replay is not None and self.finetune != "multihead":
            raise ValueError(f"--replay is used only by finetune multihead, not {self.finetune}")
        float_dtype("sampling_dtype", self.sampling_dtype)
        float_dtype("training_dtype", self.training_dtype)
        if self.skmd_explore_fraction is not None and not 0.0 <= float(self.skmd_explore_fraction) <= 1.0:
            raise ValueError(f"skmd_explore_fraction must be in [0, 1], got {self.skmd_explore_fraction}")
        if self.starts not in STARTS:
            raise ValueError(f"starts must be one of {', '.join(STARTS)}, got {self.starts!r}")
        if self.calibration not in CALIBRATION_SPLITS:
            raise ValueError(f"calibration must be one of {', '.join(CALIBRATION_SPLITS)}, got {self.calibration!r}")
        if self.ubmd_interval is not None and positive_int("ubmd_interval", self.ubmd_interval) > self.steps:
            raise ValueError(f"ubmd_interval {self.ubmd_interval} is longer than a walk of {self.steps} steps")
        if self.ubmd_tau_stress is not None:
            positive("ubmd_tau_stress", self.ubmd_tau_stress)
        if not isinstance(self.ubmd_element_weights, dict):
            raise ValueError(f"ubmd_element_weights must map element symbols to weights, got "
                             f"{self.ubmd_element_weights!r}")
        for element, weight in self.ubmd_element_weights.items():
            non_negative(f"ubmd_element_weights[{element!r}]", weight)
        if not positive("max_volume_ratio", self.max_volume_ratio) > 1:
            raise ValueError(f"max_volume_ratio must be > 1 (the factor a walk's cell volume may grow or shrink by "
                             f"before the walk is dropped as diverged), got {self.max_volume_ratio}")
        if self.trace is not None and ":" not in str(self.trace):
            raise ValueError(f"trace must name 'module:name' of a collective variable, got {self.trace!r}")
        if positive("temperature_K", self.temperature_K) > MAX_TEMPERATURE_K:
            raise ValueError(f"temperature_K {self.temperature_K} is above {MAX_TEMPERATURE_K:g} K")
        if self.pressure_GPa is not None and not (math.isfinite(self.pressure_GPa)
                                                  and abs(self.pressure_GPa) <= MAX_PRESSURE_GPA):
            raise ValueError(f"pressure_GPa must be finite and within ±{MAX_PRESSURE_GPA:g} GPa, "
                             f"got {self.pressure_GPa}")
        for name in ("iterations", "walkers", "steps", "select", "start_frames", "model_channels",
                     "surrogate_epochs", "finetune_epochs", "ubmd_features", "label_batch", "trace_interval"):
            positive_int(name, getattr(self, name))
        if self.workers is not None:
            positive_int("workers", self.workers)
        for name in ("timestep_fs", "damping_fs", "skmd_timestep_fs", "skmd_friction", "ubmd_tau", "ubmd_threshold",
                     "finetune_lr"):
            positive(name, getattr(self, name))
        for name in ("perturb_A", "perturb_strain", "stress_weight", "skmd_amplitude", "udd_A", "udd_B"):
            non_negative(name, getattr(self, name))
        if self.skmd_ud_amplitude is not None:
            non_negative("skmd_ud_amplitude", self.skmd_ud_amplitude)
        for name in ("test_fraction", "valid_fraction", "calibration_fraction"):
            if not 0.0 < float(getattr(self, name)) < 0.5:
                raise ValueError(f"{name} must be in (0, 0.5), got {getattr(self, name)}")
        n_train = self.starting_train_frames(self.start_frames)
        if not self.trains_and_validates(self.start_frames):
            enough = next(n for n in range(self.start_frames + 1, 100 * self.start_frames + 1000)
                          if self.trains_and_validates(n))
            raise ValueError(f"start_frames {self.start_frames} leaves {n_train} starting frames to train on, too few "
                             f"for a validation split of valid_fraction {self.valid_fraction}: raise start_frames "
                             f"to at least {enough}")
        if "ubmd" in self.samplers:
            if not 0.0 < float(self.ubmd_alpha) < 1.0:
                raise ValueError(f"ubmd_alpha must be in (0, 1), got {self.ubmd_alpha}")
            n_calibration, needed = max(1, round(self.calibration_fraction * self.start_frames)), \
                math.ceil(1.0 / self.ubmd_alpha) - 1
            if self.calibration == "random":    # later splits draw from every label but the test frames
                n_test = 0 if self.test else max(1, round(self.test_fraction * self.start_frames))
                n_calibration = min(n_calibration, max(1, round(self.calibration_fraction *
                                                                (self.start_frames - n_test))))
            if positive_int("ubmd_window", self.ubmd_window) >= self.steps:
                raise ValueError(f"ubmd_window {self.ubmd_window} must be below steps {self.steps}: UB-MD's bias "
                                 "strength is set from the first ubmd_window steps, which run unbiased")
            if n_calibration < needed:
                raise ValueError(f"ubmd calibrates its uncertainty on as few as {n_calibration} held-out frames "
                                 f"(calibration_fraction of the starting labels); ubmd_alpha {self.ubmd_alpha} needs at least "
                                 f"{needed}: raise start_frames or calibration_fraction, or ubmd_alpha")
        if "udd" in self.samplers and positive_int("udd_members", self.udd_members) < 2:
            raise ValueError("a UDD committee needs udd_members >= 2")
        return self

    def skmd_regime(self) -> str:
        """One sentence: the regime SKMD's amplitude puts it in for this walker count."""
        from ..modules.kernels import regime_sentence  # noqa: PLC0415
        sentence = regime_sentence(self.skmd_amplitude, self.walkers, "walkers")
        if self.skmd_ud_amplitude is not None and "skmd-ud" in self.samplers:
            sentence += " skmd-ud: " + regime_sentence(self.skmd_ud_amplitude, self.walkers, "walkers")
        return sentence

    @property
    def npt(self) -> bool:
        return self.pressure_GPa is not None


FIELDS = {f.name: f for f in fields(CampaignConfig)}


def read_yaml(path) -> dict:
    """The settings of a YAML file (a mapping of field names); unknown names are an error, naming them."""
    import yaml  # noqa: PLC0415
    try:
        with open(path, encoding="utf-8") as handle:
            loaded = yaml.safe_load(handle) or {}
    except OSError as error:
        raise ValueError(f"cannot read the config file {path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise ValueError(f"the config file {path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"the config file {path} must hold a mapping of settings, not {type(loaded).__name__}")
    loaded = {str(key).replace("-", "_"): value for key, value in loaded.items()}
    unknown = sorted(set(loaded) - set(FIELDS))
    if unknown:
        raise ValueError(f"the config file {path} has unknown settings: {', '.join(unknown)}")
    return loaded


#: what switches off a setting whose default is None (``--pressure none``, ``trace: none`` in YAML)
UNSET = ("none", "null")


def make_config(*layers: dict) -> CampaignConfig:
    """A validated config from layers of settings, later layers winning (preset, YAML file, flags).

    A None value in a layer means "not given" (an absent flag); to switch off a setting an earlier layer
    set (a preset's ``trace`` or ``pressure_GPa``), give ``none`` for a setting whose default is None."""
    merged = {}
    for layer in layers:
        merged.update({key: value for key, value in layer.items() if value is not None})
    for key, value in list(merged.items()):
        if isinstance(value, str) and value.strip().lower() in UNSET and key in FIELDS \
                and FIELDS[key].default is None:
            merged[key] = None
    if isinstance(merged.get("samplers"), str):
        merged["samplers"] = tuple(s.strip() for s in merged["samplers"].split(",") if s.strip())
    elif "samplers" in merged:
        merged["samplers"] = tuple(merged["samplers"])
    if "samplers" in merged and all(sampler_kind(name) for name in merged["samplers"]):   # one order, any input's
        merged["samplers"] = tuple(sorted(merged["samplers"], key=_sampler_order))
    for key in ("structures", "test", "model", "replay"):   # a file is the same file from any working directory
        if merged.get(key):
            merged[key] = str(Path(merged[key]).expanduser().resolve())
    return replace(CampaignConfig(), **merged).validate()

#: settings that may change when a campaign resumes (where it runs, not what it computes), and that may grow
FREE_SETTINGS, GROWABLE_SETTINGS = ("out", "workers", "dask_scheduler", "extra"), ("iterations",)

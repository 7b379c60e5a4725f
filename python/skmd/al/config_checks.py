"""The cheap checks of a :class:`~skmd.al.config.CampaignConfig`, run before any file is read or any work
done; each failure is a ValueError of one line. Nothing here imports numpy."""
from __future__ import annotations

import math

from ..tools.training_settings import FINETUNE_MODES as TRAINER_MODES
from ..tools.checks import MAX_PRESSURE_GPA, float_dtype, non_negative, positive, positive_int
from ..tools.device import check_device
from ..uncertainty.feature_layers import check_feature_layers
from ..uncertainty.methods import METHODS
from .sampler_names import SAMPLERS, sampler_kind

SELECTIONS = ("fps", *METHODS)
#: the trainer's fine-tuning modes, and "scratch": each iteration trains a new model from scratch
FINETUNE_MODES = (*TRAINER_MODES, "scratch")
#: where walkers of iteration k > 1 start: their own end points of k − 1, or its labelled training frames
STARTS = ("end", "labelled")
#: how labels are split for calibration: fixed once per label (``fixed``), or drawn afresh at random
#: from all labels every iteration and used as the early-stopping set too (``random``)
CALIBRATION_SPLITS = ("fixed", "random")

#: a bound that keeps a typo from running for hours (a value above says so in one line)
MAX_TEMPERATURE_K = 1.0e5


def check_campaign_settings(config) -> None:
    """Every setting of ``config`` in range and consistent with the others."""
    _check_choices(config)
    _check_numbers(config)
    _check_starting_splits(config)
    if "ubmd" in config.samplers:
        _check_ubmd(config)
    if "udd" in config.samplers and positive_int("udd_members", config.udd_members) < 2:
        raise ValueError("a UDD committee needs udd_members >= 2")


def _check_choices(config) -> None:
    """Names: structures given, samplers, selection, fine-tuning mode, dtypes, starts, calibration, trace, device."""
    positive_int("seed", config.seed, minimum=0)
    if not config.structures:
        raise ValueError("no starting structures: give --structures FILE (any format ASE reads), "
                         "or --preset NAME")
    unknown = [name for name in config.samplers if sampler_kind(name) is None]
    if not config.samplers or unknown or len(set(config.samplers)) != len(config.samplers):
        raise ValueError(f"samplers must be distinct names among {', '.join(SAMPLERS)} (md<T>: plain MD at T K, "
                         f"e.g. md700; skmd<h>: SKMD at kernel amplitude h, e.g. skmd1.5); got {list(config.samplers)}")
    check_feature_layers(config.ubmd_feature_layers, "ubmd_feature_layers")
    for name in ("trust_model", "keep_training_files", "replace_failed"):
        if not isinstance(getattr(config, name), bool):
            raise ValueError(f"{name} must be true or false, got {getattr(config, name)!r}")
    if config.selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, got {config.selection!r}")
    if config.finetune not in FINETUNE_MODES:
        raise ValueError(f"finetune must be one of {', '.join(FINETUNE_MODES)}, got {config.finetune!r}")
    if config.finetune == "multihead" and config.model is not None and config.replay is None:
        raise ValueError("finetune multihead with --model needs --replay FILE (labelled frames of the base "
                         "model's own data, replayed in a head of their own); without --model the surrogate's "
                         "own training labels are replayed")
    if config.replay is not None and config.finetune != "multihead":
        raise ValueError(f"--replay is used only by finetune multihead, not {config.finetune}")
    float_dtype("sampling_dtype", config.sampling_dtype)
    float_dtype("training_dtype", config.training_dtype)
    if config.starts not in STARTS:
        raise ValueError(f"starts must be one of {', '.join(STARTS)}, got {config.starts!r}")
    if config.calibration not in CALIBRATION_SPLITS:
        raise ValueError(f"calibration must be one of {', '.join(CALIBRATION_SPLITS)}, got {config.calibration!r}")
    if config.trace is not None and ":" not in str(config.trace):
        raise ValueError(f"trace must name 'module:name' of a collective variable, got {config.trace!r}")
    check_device(config.device)          # cuda where torch sees none: one line, before any work


def _check_numbers(config) -> None:
    """Counts, physical settings and fractions in range."""
    if config.skmd_explore_fraction is not None and not 0.0 <= float(config.skmd_explore_fraction) <= 1.0:
        raise ValueError(f"skmd_explore_fraction must be in [0, 1], got {config.skmd_explore_fraction}")
    if config.ubmd_interval is not None and positive_int("ubmd_interval", config.ubmd_interval) > config.steps:
        raise ValueError(f"ubmd_interval {config.ubmd_interval} is longer than a walk of {config.steps} steps")
    if config.ubmd_tau_stress is not None:
        positive("ubmd_tau_stress", config.ubmd_tau_stress)
    if not isinstance(config.ubmd_element_weights, dict):
        raise ValueError(f"ubmd_element_weights must map element symbols to weights, got "
                         f"{config.ubmd_element_weights!r}")
    for element, weight in config.ubmd_element_weights.items():
        non_negative(f"ubmd_element_weights[{element!r}]", weight)
    if not positive("max_volume_ratio", config.max_volume_ratio) > 1:
        raise ValueError(f"max_volume_ratio must be > 1 (the factor a walk's cell volume may grow or shrink by "
                         f"before the walk is dropped as diverged), got {config.max_volume_ratio}")
    if positive("temperature_K", config.temperature_K) > MAX_TEMPERATURE_K:
        raise ValueError(f"temperature_K {config.temperature_K} is above {MAX_TEMPERATURE_K:g} K")
    if config.pressure_GPa is not None and not (math.isfinite(config.pressure_GPa)
                                                and abs(config.pressure_GPa) <= MAX_PRESSURE_GPA):
        raise ValueError(f"pressure_GPa must be finite and within ±{MAX_PRESSURE_GPA:g} GPa, "
                         f"got {config.pressure_GPa}")
    for name in ("iterations", "walkers", "moves", "steps", "select", "start_frames", "model_channels",
                 "surrogate_epochs", "finetune_epochs", "ubmd_features", "label_batch", "trace_interval"):
        positive_int(name, getattr(config, name))
    if config.workers is not None:
        positive_int("workers", config.workers)
    if config.threads is not None:
        positive_int("threads", config.threads)
    for name in ("timestep_fs", "damping_fs", "skmd_timestep_fs", "skmd_friction", "ubmd_tau", "ubmd_threshold", "ubmd_sigma",
                 "finetune_lr"):
        positive(name, getattr(config, name))
    for name in ("perturb_A", "perturb_strain", "stress_weight", "skmd_amplitude", "udd_A", "udd_B"):
        non_negative(name, getattr(config, name))
    if config.skmd_ud_amplitude is not None:
        non_negative("skmd_ud_amplitude", config.skmd_ud_amplitude)
    for name in ("test_fraction", "valid_fraction", "calibration_fraction"):
        if not 0.0 < float(getattr(config, name)) < 0.5:
            raise ValueError(f"{name} must be in (0, 0.5), got {getattr(config, name)}")


def starting_train_frames(config, start_frames: int) -> int:
    """The starting labels left to train on out of ``start_frames``, after the test (unless a test set is
    given) and calibration splits."""
    fractions = (config.calibration_fraction,) if config.test else (config.test_fraction, config.calibration_fraction)
    return start_frames - sum(max(1, round(f * start_frames)) for f in fractions)


def trains_and_validates(config, start_frames: int) -> bool:
    """Whether ``start_frames`` leaves at least 2 frames to train on and 1 for mace's validation split."""
    n_train = starting_train_frames(config, start_frames)
    return n_train >= 2 and int(config.valid_fraction * n_train) >= 1


def _check_starting_splits(config) -> None:
    """Enough starting labels for the held-out splits; the error names a count that is enough."""
    if trains_and_validates(config, config.start_frames):
        return
    enough = next(n for n in range(config.start_frames + 1, 100 * config.start_frames + 1000)
                  if trains_and_validates(config, n))
    raise ValueError(f"start_frames {config.start_frames} leaves {starting_train_frames(config, config.start_frames)} "
                     f"starting frames to train on, too few for a validation split of valid_fraction "
                     f"{config.valid_fraction}: raise start_frames to at least {enough}")


def _calibration_frames(config, start_frames: int) -> int:
    """The fewest held-out frames UB-MD calibrates on, with ``start_frames`` starting labels."""
    n_calibration = max(1, round(config.calibration_fraction * start_frames))
    if config.calibration == "random":    # later splits draw from every label but the test frames
        n_test = 0 if config.test else max(1, round(config.test_fraction * start_frames))
        n_calibration = min(n_calibration, max(1, round(config.calibration_fraction * (start_frames - n_test))))
    return n_calibration


def _check_ubmd(config) -> None:
    """UB-MD's confidence level, its unbiased window and enough calibration frames for that level."""
    if not 0.0 < float(config.ubmd_alpha) < 1.0:
        raise ValueError(f"ubmd_alpha must be in (0, 1), got {config.ubmd_alpha}")
    n_calibration, needed = _calibration_frames(config, config.start_frames), math.ceil(1.0 / config.ubmd_alpha) - 1
    if positive_int("ubmd_window", config.ubmd_window) >= config.steps:
        raise ValueError(f"ubmd_window {config.ubmd_window} must be below steps {config.steps}: UB-MD's bias "
                         "strength is set from the first ubmd_window steps, which run unbiased")
    if n_calibration < needed:
        enough = next(n for n in range(config.start_frames + 1, 100 * config.start_frames + 100 * needed + 1000)
                      if _calibration_frames(config, n) >= needed)
        raise ValueError(f"ubmd calibrates its uncertainty on as few as {n_calibration} held-out frames "
                         f"(calibration_fraction of the starting labels); ubmd_alpha {config.ubmd_alpha} needs at least "
                         f"{needed}: raise start_frames to at least {enough}, or calibration_fraction, or ubmd_alpha")

"""Settings of an active-learning campaign (``skmd al``), and the YAML file that may hold them.

Units: K, GPa, fs, Å, eV; uncertainties in eV/Å. Every field is also a flag of ``skmd al`` (``_`` as
``-``), and a ``--config`` YAML file may set any of them by the field's name; flags given on the
command line win. Nothing here imports numpy, so the command line stays fast. The samplers' defaults
(``ubmd_alpha``, ``skmd_friction``, ...) are those of :mod:`skmd.tools.sampler_defaults`, which the sampler
dataclasses and the worker factories share.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import yaml

from ..tools.sampler_defaults import MD_DEFAULTS, SKMD_DEFAULTS, UBMD_DEFAULTS, UDD_DEFAULTS
from ..uncertainty.feature_layers import DEFAULT_FEATURE_LAYERS
from .config_checks import CALIBRATION_SPLITS, FINETUNE_MODES, SELECTIONS, STARTS, check_campaign_settings  # noqa: F401
from .sampler_names import SAMPLERS, _sampler_order, md_temperature, sampler_kind, skmd_amplitude  # noqa: F401


@dataclass(frozen=True)
class CampaignConfig:
    """One campaign: where it starts, what labels it, how it samples, selects and trains.

    ``structures``: an ASE-readable file of starting structures (all frames are used; the walkers start from
    them in turn, rattled by ``perturb_A``). ``oracle``:
    ``"module:function"`` returning an ASE calculator. ``model``: a MACE model to start from
    (skmd's ``.safetensors``, or a ``.model`` pickle with ``trust_model``); without one a surrogate
    is trained on oracle labels of ``start_frames`` perturbed copies (``perturb_A`` Å rattle,
    ``perturb_strain`` relative cell strain for periodic cells). ``pressure_GPa`` set: NPT, stress
    labels and a stress loss; else NVT. ``start_labels``: an extxyz file of labelled frames (e.g. your own
    DFT data) that are the starting labels instead of oracle labels of perturbed copies; ``start_frames`` is
    then the number of frames it holds. ``moves``: walks per walker per iteration, each continuing from the
    last and giving one candidate (SKMD's round robin moves every walker once per round). ``test``: a
    labelled extxyz file to score on; without one the ``test_fraction`` of the starting labels is held out
    for it. ``max_volume_ratio``: the factor (> 1)
    by which a walk's cell volume may grow or shrink within one walk before every sampler's divergence
    check drops the walk (:class:`~skmd.atoms.divergence.DivergenceCheck`); raise it to let a cell expand.
    ``finetune_lr``: the learning rate of a fine-tuning's first stage (its second stage runs at a tenth of it).
    ``threads``: torch threads of every task (sampling, scoring) and OMP/BLAS and torch threads of every training
    (None: $SKMD_THREADS, else 1). ``device``: where sampling, scoring and training run, "auto" (cuda where torch sees one), "cpu"
    or "cuda" (:mod:`skmd.tools.device`; UB-MD samples on the CPU whatever it says).
    """

    structures: str = ""
    oracle: str = "skmd.atoms.oracle:gfn2_xtb"
    out: str = "runs/al"
    model: str | None = None
    trust_model: bool = False
    samplers: tuple = ("md",)
    temperature_K: float = MD_DEFAULTS.temperature_K
    pressure_GPa: float | None = None
    iterations: int = 3
    walkers: int = 8
    moves: int = 1                                # moves (walks) per walker per iteration, a candidate each
    steps: int = 200
    select: int = 4
    selection: str = "fps"
    replace_failed: bool = True                   # a frame the oracle fails on is replaced by the selector's next pick
    finetune: str = "full"
    replay: str | None = None
    test: str | None = None
    seed: int = 0
    timestep_fs: float = MD_DEFAULTS.timestep_fs
    damping_fs: float = MD_DEFAULTS.damping_fs
    start_frames: int = 48
    start_labels: str | None = None               # labelled frames that are the starting labels (no oracle calls)
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
    skmd_amplitude: float = SKMD_DEFAULTS.amplitude
    skmd_ud_amplitude: float | None = None        # skmd-ud's own amplitude; None: skmd_amplitude
    skmd_timestep_fs: float = SKMD_DEFAULTS.timestep_fs
    skmd_friction: float = SKMD_DEFAULTS.friction
    ubmd_tau: float = UBMD_DEFAULTS.tau
    ubmd_threshold: float = UBMD_DEFAULTS.threshold
    ubmd_features: int = UBMD_DEFAULTS.n_features
    ubmd_alpha: float = UBMD_DEFAULTS.alpha
    ubmd_window: int = UBMD_DEFAULTS.window
    ubmd_sigma: float = UBMD_DEFAULTS.sigma       # the feature posterior's noise; what UB-MD always ran (0.01)
    ubmd_tau_stress: float | None = None
    ubmd_interval: int | None = None
    ubmd_element_weights: dict = field(default_factory=dict)
    ubmd_feature_layers: str = DEFAULT_FEATURE_LAYERS
    starts: str = "end"
    calibration: str = "fixed"
    udd_members: int = UDD_DEFAULTS.members
    udd_A: float = UDD_DEFAULTS.A
    udd_B: float = UDD_DEFAULTS.B
    sampling_dtype: str = MD_DEFAULTS.dtype
    training_dtype: str = "float64"               # mace_run_train's --default_dtype for every model trained
    skmd_explore_fraction: float | None = None
    trace: str | None = None
    trace_interval: int = MD_DEFAULTS.trace_interval
    max_volume_ratio: float = MD_DEFAULTS.max_volume_ratio
    label_batch: int = 1
    workers: int | None = None
    dask_scheduler: str | None = None
    threads: int | None = None                    # None: $SKMD_THREADS, else 1 (skmd.tools.threads)
    device: str = "auto"                          # auto, cpu or cuda (skmd.tools.device)
    keep_training_files: bool = False             # keep mace_run_train's pickles and checkpoints (skmd reads none)
    preset: str | None = None                     # the preset these settings started from (recorded)
    extra: dict = field(default_factory=dict)     # a user's own settings, recorded with the run

    def validate(self) -> "CampaignConfig":
        """Cheap checks, before any file is read or any work done; ValueError with one line
        (:func:`skmd.al.config_checks.check_campaign_settings`)."""
        check_campaign_settings(self)
        return self

    def skmd_regime(self) -> str:
        """One sentence: the regime each SKMD sampler's amplitude puts it in for this walker count (``skmd``,
        or no SKMD sampler named: ``skmd_amplitude``'s; ``skmd<h>``: h's, ``skmd-ud``: its own amplitude's)."""
        from ..modules.kernels import regime_sentence  # noqa: PLC0415  lazy: skmd --help start-up (numpy)
        named = [name for name in self.samplers if name != "skmd" and sampler_kind(name) == "skmd"]
        parts = [] if named and "skmd" not in self.samplers else \
            [regime_sentence(self.skmd_amplitude, self.walkers, "walkers")]
        if self.skmd_ud_amplitude is not None and "skmd-ud" in self.samplers:
            parts.append("skmd-ud: " + regime_sentence(self.skmd_ud_amplitude, self.walkers, "walkers"))
        for name in named:
            parts.append(f"{name}: " + regime_sentence(skmd_amplitude(name, self.skmd_amplitude), self.walkers,
                                                       "walkers"))
        return " ".join(parts)

    @property
    def npt(self) -> bool:
        return self.pressure_GPa is not None


FIELDS = {f.name: f for f in fields(CampaignConfig)}


def read_yaml(path) -> dict:
    """The settings of a YAML file (a mapping of field names); unknown names are an error, naming them."""
    try:
        with open(path, encoding="utf-8") as handle:
            loaded = yaml.safe_load(handle) or {}
    except OSError as error:
        raise ValueError(f"cannot read the config file {path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise ValueError(f"the config file {path} is not valid YAML: {yaml_problem(error)}") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"the config file {path} must hold a mapping of settings, not {type(loaded).__name__}")
    loaded = {str(key).replace("-", "_"): value for key, value in loaded.items()}
    unknown = sorted(set(loaded) - set(FIELDS))
    if unknown:
        raise ValueError(f"the config file {path} has unknown settings: {', '.join(unknown)}")
    return loaded


def yaml_problem(error) -> str:
    """What a YAML parser says is wrong, with the line and column where it found it (1-based)."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    context = getattr(error, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return where + (f"{problem} ({context})" if context else problem)


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
    for key in ("structures", "test", "model", "replay", "start_labels"):   # the same file from any directory
        if merged.get(key):
            merged[key] = str(Path(merged[key]).expanduser().resolve())
    return replace(CampaignConfig(), **merged).validate()

#: settings that may change when a campaign resumes (where it runs, not what it computes), and that may grow
FREE_SETTINGS, GROWABLE_SETTINGS = ("out", "workers", "dask_scheduler", "threads", "device", "keep_training_files",
                                     "extra"), ("iterations",)

"""The samplers of a campaign: recipes that turn one iteration into a :class:`~skmd.atoms.parallel.SamplerSpec`
and a picklable calculator factory. Units: K, fs, GPa, eV, Å.

A sampler is any object with

* ``name`` (str): its label in the run directory and the results;
* ``spec(n_moves, steps, seed)`` → :class:`~skmd.atoms.parallel.SamplerSpec` (``seed`` passed by keyword);
* ``factory(context)`` → a picklable ``() -> ASE calculator``, where ``context`` is the
  :class:`Context` of this iteration (the sampler's current model, the labelled data so far);
* ``n_models`` (int, default 1): how many models its chain fine-tunes (a committee has several).

so a user's own sampler plugs in by passing it to :class:`~skmd.al.Campaign` (``samplers=[...]``).
Built in: :class:`MD` (Langevin or NPT), :class:`SKMD` (Stein bias, Brownian), :class:`UBMD`
(uncertainty bias, stops at a calibrated threshold) and :class:`UDD` (committee bias); their defaults are those of
:mod:`skmd.tools.sampler_defaults`, shared with :class:`~skmd.al.config.CampaignConfig` and the worker factories.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..modules.kernels import GaussianKernel
from ..modules.schedules import KernelSchedule
from ..tools.factories import load_factory
from ..tools.sampler_defaults import MD_DEFAULTS, SKMD_DEFAULTS, UBMD_DEFAULTS, UDD_DEFAULTS
from ..uncertainty.factory import UBMDFactory
from ..uncertainty.feature_layers import DEFAULT_FEATURE_LAYERS
from .sampler_names import md_temperature, sampler_kind, skmd_amplitude


@dataclass(frozen=True)
class Context:
    """What a sampler's calculator may use in one iteration (paths to files in the run directory).

    ``models``: the sampler's current model(s), first the one it samples with. ``train_file`` and
    ``calibration_file``: extxyz files with REF_ labels that the models were trained on and that were
    held out of training for calibration. ``pressure_GPa``: None for NVT. ``device``: where the calculator
    runs, "cpu" or "cuda" (the campaign's ``device``, resolved; UB-MD stays on the CPU).
    """

    models: tuple
    train_file: str
    calibration_file: str
    pressure_GPa: float | None
    seed: int
    device: str = "cpu"


def dynamics(temperature_K: float, timestep_fs: float, damping_fs: float, pressure_GPa: float | None):
    """Langevin at ``temperature_K`` (NVT), or MTK NPT with a flexible cell at ``pressure_GPa``."""
    from ..atoms.integrators import NPT, Langevin  # noqa: PLC0415  lazy: skmd.atoms imports torch, mace
    if pressure_GPa is None:
        return Langevin(temperature_K, timestep_fs, damping_fs)
    return NPT(temperature_K, pressure_GPa, timestep_fs, tdamp_fs=damping_fs, pdamp_fs=10 * damping_fs)


def divergence_check(max_volume_ratio: float):
    """The engine's divergence check with the campaign's volume limit (other limits at their defaults)."""
    from ..atoms.divergence import DivergenceCheck  # noqa: PLC0415  lazy: skmd.atoms imports torch, mace
    return DivergenceCheck(max_volume_ratio=max_volume_ratio)


def observers(acquisition, trace=None, interval: int = MD_DEFAULTS.trace_interval) -> list:
    """The acquisition rule, and a :class:`~skmd.al.traces.Trace` of ``trace`` (a collective variable) if given."""
    if trace is None:
        return [acquisition]
    from .traces import Trace  # noqa: PLC0415  lazy: skmd.al.traces imports skmd.atoms (torch, mace)
    return [acquisition, Trace(trace, interval)]


@dataclass(frozen=True)
class MD:
    """Independent walkers of plain MD; each walk's end point is its candidate. ``dtype``: the float type
    the MACE model samples in (``float32`` is about twice as fast on CPU); ``trace``: a collective
    variable recorded every ``trace_interval`` steps (see :mod:`skmd.al.traces`); ``max_volume_ratio``: how far
    a walk's cell volume may grow or shrink (factor) before the walk is dropped as diverged."""

    temperature_K: float = MD_DEFAULTS.temperature_K
    timestep_fs: float = MD_DEFAULTS.timestep_fs
    damping_fs: float = MD_DEFAULTS.damping_fs
    pressure_GPa: float | None = None
    name: str = "md"
    dtype: str = MD_DEFAULTS.dtype
    trace: object = None
    trace_interval: int = MD_DEFAULTS.trace_interval
    max_volume_ratio: float = MD_DEFAULTS.max_volume_ratio
    n_models = 1

    def spec(self, n_moves: int, steps: int, seed: int):
        from ..atoms.observers import EndPoint  # noqa: PLC0415  lazy: skmd.atoms imports torch, mace
        from ..atoms.parallel import SamplerSpec  # noqa: PLC0415  lazy: skmd.atoms imports torch, mace
        return SamplerSpec(self.name, "independent", dynamics(self.temperature_K, self.timestep_fs, self.damping_fs,
                                                              self.pressure_GPa),
                           n_moves, steps=steps, seed=seed,
                           acquisition=observers(EndPoint(steps), self.trace, self.trace_interval),
                           divergence=divergence_check(self.max_volume_ratio))

    def factory(self, context: Context):
        from ..atoms.parallel import MACEFactory  # noqa: PLC0415  lazy: skmd.atoms imports torch, mace
        return MACEFactory(str(context.models[0]), self.dtype, context.device)


@dataclass(frozen=True)
class UBMD(MD):
    """Uncertainty-biased MD (E − τu with an ensemble-free, conformally calibrated u): a walk stops at the
    first frame whose largest atomic u exceeds ``threshold`` (eV/Å), its candidate; else its end point. With
    ``interval``, every ``interval``-th frame is a candidate too, crossing or not (the authors' protocol);
    ``element_weights`` ((symbol, weight), ...) scale the bias forces per element (0 on H: heavy atoms only);
    ``feature_layers`` says which weights u's gradient features cover (:mod:`skmd.uncertainty.features`), ``sigma``
    the noise of their Gaussian-process posterior, ``alpha`` the conformal calibration's α and ``window`` the
    unbiased first steps of a walk that set the bias strength.
    It samples in float64 whatever ``dtype`` says, and on the CPU whatever ``context.device`` says: u needs the
    model's parameter gradients, read as numpy arrays (:class:`~skmd.uncertainty.factory.UBMDFactory`)."""

    tau: float = UBMD_DEFAULTS.tau
    threshold: float = UBMD_DEFAULTS.threshold
    n_features: int = UBMD_DEFAULTS.n_features
    alpha: float = UBMD_DEFAULTS.alpha
    window: int = UBMD_DEFAULTS.window
    name: str = "ubmd"
    tau_stress: float | None = None
    interval: int | None = None
    element_weights: tuple = ()
    feature_layers: str = DEFAULT_FEATURE_LAYERS
    sigma: float = UBMD_DEFAULTS.sigma

    def spec(self, n_moves: int, steps: int, seed: int):
        from ..atoms.observers import UncertaintyStop  # noqa: PLC0415  lazy: skmd.atoms imports torch, mace
        stop = UncertaintyStop(steps, atomic_threshold=self.threshold, interval=self.interval,
                               keep_on_crossing=self.interval is not None)
        return replace(MD.spec(self, n_moves, steps, seed),
                       acquisition=observers(stop, self.trace, self.trace_interval))

    def factory(self, context: Context):
        return UBMDFactory(str(context.models[0]), context.train_file, context.calibration_file,
                           n_features=self.n_features, sigma=self.sigma, alpha=self.alpha, tau=self.tau,
                           window=self.window, seed=context.seed, tau_stress=self.tau_stress,
                           element_weights=self.element_weights, feature_layers=self.feature_layers)


@dataclass(frozen=True)
class UDD(MD):
    """Uncertainty-driven dynamics: MD on a committee of ``n_models`` MACE models (their mean) under a
    Gaussian bias of height ``A`` and width ``B`` (eV) on the committee's energy variance."""

    A: float = UDD_DEFAULTS.A
    B: float = UDD_DEFAULTS.B
    members: int = UDD_DEFAULTS.members
    name: str = "udd"

    @property
    def n_models(self) -> int:
        return self.members

    def factory(self, context: Context):
        from ..atoms.parallel import CommitteeFactory  # noqa: PLC0415  lazy: skmd.atoms imports torch, mace
        return CommitteeFactory(tuple(str(path) for path in context.models), self.A, self.B, self.dtype,
                                context.device)


@dataclass(frozen=True)
class SKMD:
    """Round-robin SKMD: Brownian dynamics (T, Δt, friction γ in eV·fs/Å²) under the Stein bias of the
    other walkers, a Gaussian kernel of amplitude h on the model's MACE descriptors (median bandwidth).
    ``underdamped=True``: the Stein bias on Langevin dynamics at the MD time step and damping instead
    (sampler ``skmd-ud``), so a move spans as much time as a plain-MD move with the same force calls.
    With ``explore_fraction`` set, the kernel follows the two-phase schedule within each iteration
    (:meth:`~skmd.modules.schedules.KernelSchedule.two_phase`: full h for that fraction of the moves,
    then decaying to half); else h stays fixed."""

    temperature_K: float = MD_DEFAULTS.temperature_K
    timestep_fs: float = SKMD_DEFAULTS.timestep_fs
    friction: float = SKMD_DEFAULTS.friction
    amplitude: float = SKMD_DEFAULTS.amplitude
    name: str = "skmd"
    dtype: str = MD_DEFAULTS.dtype
    explore_fraction: float | None = None
    trace: object = None
    trace_interval: int = MD_DEFAULTS.trace_interval
    underdamped: bool = False
    damping_fs: float = MD_DEFAULTS.damping_fs
    max_volume_ratio: float = MD_DEFAULTS.max_volume_ratio
    n_models = 1

    def integrator(self):
        """Brownian (Δt, γ), or for the underdamped variant Langevin (Δt, damping time) as plain MD uses."""
        from ..atoms.integrators import Brownian  # noqa: PLC0415  lazy: skmd.atoms imports torch, mace
        if self.underdamped:
            return dynamics(self.temperature_K, self.timestep_fs, self.damping_fs, None)
        return Brownian(self.temperature_K, self.timestep_fs, self.friction)

    def spec(self, n_moves: int, steps: int, seed: int):
        from ..atoms.observers import EndPoint  # noqa: PLC0415  lazy: skmd.atoms imports torch, mace
        from ..atoms.parallel import SamplerSpec  # noqa: PLC0415  lazy: skmd.atoms imports torch, mace
        from ..atoms.stein_bias import Stein  # noqa: PLC0415  lazy: skmd.atoms imports torch, mace
        kernel = GaussianKernel(self.amplitude, "median")
        if self.explore_fraction is not None:
            kernel = KernelSchedule.two_phase(kernel, total=n_moves, explore_fraction=self.explore_fraction)
        bias = Stein(kernel, self.temperature_K)
        return SamplerSpec(self.name, "round_robin", self.integrator(), n_moves, steps=steps, bias=bias, seed=seed,
                           acquisition=observers(EndPoint(steps), self.trace, self.trace_interval),
                           divergence=divergence_check(self.max_volume_ratio))

    def factory(self, context: Context):
        from ..atoms.parallel import MACEFactory  # noqa: PLC0415  lazy: skmd.atoms imports torch, mace
        return MACEFactory(str(context.models[0]), self.dtype, context.device)


def builtin_samplers(config) -> list:
    """The samplers a :class:`~skmd.al.config.CampaignConfig` names, with its settings (``md<T>``: MD at T K,
    ``skmd<h>``: SKMD at kernel amplitude h, else ``skmd_amplitude``)."""
    shared = dict(dtype=config.sampling_dtype, trace=load_trace(config.trace), trace_interval=config.trace_interval,
                  max_volume_ratio=config.max_volume_ratio)
    md = dict(timestep_fs=config.timestep_fs, damping_fs=config.damping_fs, pressure_GPa=config.pressure_GPa,
              **shared)
    recipes = {"md": lambda name: MD(md_temperature(name, config.temperature_K), name=name, **md),
               "ubmd": lambda name: UBMD(config.temperature_K, **md, tau=config.ubmd_tau,
                                         threshold=config.ubmd_threshold, n_features=config.ubmd_features,
                                         sigma=config.ubmd_sigma, alpha=config.ubmd_alpha,
                                         window=config.ubmd_window,
                                         tau_stress=config.ubmd_tau_stress, interval=config.ubmd_interval,
                                         element_weights=tuple(sorted(config.ubmd_element_weights.items())),
                                         feature_layers=config.ubmd_feature_layers),
               "udd": lambda name: UDD(config.temperature_K, **md, A=config.udd_A, B=config.udd_B,
                                       members=config.udd_members),
               "skmd": lambda name: SKMD(config.temperature_K, config.skmd_timestep_fs, config.skmd_friction,
                                         skmd_amplitude(name, config.skmd_amplitude), name=name,
                                         explore_fraction=config.skmd_explore_fraction, **shared),
               "skmd-ud": lambda name: SKMD(config.temperature_K, config.timestep_fs, config.skmd_friction,
                                            config.skmd_amplitude if config.skmd_ud_amplitude is None
                                            else config.skmd_ud_amplitude, name=name,
                                            explore_fraction=config.skmd_explore_fraction, underdamped=True,
                                            damping_fs=config.damping_fs, **shared)}
    return [recipes[sampler_kind(name)](name) for name in config.samplers]


def load_trace(spec):
    """The collective variable ``"module:name"`` names (a class is instantiated without arguments); None for None."""
    if spec is None:
        return None
    loaded = load_factory(spec, "trace")
    return loaded() if isinstance(loaded, type) else loaded

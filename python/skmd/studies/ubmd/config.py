"""Settings of ``skmd ubmd`` and the systems it runs on.

Units: K, fs, GPa, eV, Å. A sampler is (name, biased, temperature); a biased sampler runs
uncertainty-biased MD (E − τu), an unbiased one plain MD with the same threshold stop. The molecule
samples NVT (Langevin); the periodic systems (diamond Si, or the CO2 molecular crystal) sample NPT
(ASE's MTK barostat, fully flexible cell) at every pressure of ``pressures_GPa``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ...tools.checks import non_negative, positive, positive_int
from ...uncertainty.methods import METHODS

SYSTEMS = ("ala2", "periodic", "co2")
#: the systems sampled in NPT, labelled with stress
PERIODIC = ("periodic", "co2")
UNCERTAINTIES = ("gradient", "ensemble")
SELECTIONS = (*METHODS, "fps")
#: GFN1-xTB lattice constant of diamond silicon (Å): the stress vanishes there (see docs/ubmd.md, "The systems").
SI_LATTICE = 5.70
#: GFN1-xTB lattice constant (Å) and C=O bond (Å) of the Pa-3 CO2 crystal, from a cell relaxation:
#: residual pressure 0.08 GPa, largest force 0.015 eV/Å (see docs/ubmd.md, "The systems").
CO2_LATTICE, CO2_BOND = 5.47, 1.141


def gfn1_xtb(charge: int | None = None, multiplicity: int | None = None):
    """GFN1-xTB from tblite: the default oracle of the periodic system (energy, forces, stress under PBC)."""
    from tblite.ase import TBLite  # noqa: PLC0415
    return TBLite(method="GFN1-xTB", charge=charge, multiplicity=multiplicity, verbosity=0)


def silicon_cell():
    """Diamond silicon, the 8-atom cubic cell at the GFN1-xTB lattice constant (periodic in 3D)."""
    from ase.build import bulk  # noqa: PLC0415
    return bulk("Si", "diamond", a=SI_LATTICE, cubic=True)


def co2_cell(lattice: float = CO2_LATTICE, bond: float = CO2_BOND):
    """Dry ice (CO2-I, space group Pa-3): 4 linear molecules on the fcc sites of a cubic cell of
    ``lattice`` Å, each along a different body diagonal, C=O ``bond`` Å; 12 atoms, periodic in 3D."""
    import numpy as np  # noqa: PLC0415  (the settings themselves need no numpy: skmd --help stays fast)
    from ase import Atoms  # noqa: PLC0415
    x = bond / (lattice * np.sqrt(3.0))
    centres = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    axes = np.array([[1, 1, 1], [-1, 1, -1], [-1, -1, 1], [1, -1, -1]])
    scaled = [site for centre, axis in zip(centres, axes) for site in (centre, centre + x * axis, centre - x * axis)]
    return Atoms("COO" * 4, scaled_positions=scaled, cell=[lattice] * 3, pbc=True)


def starting_structure(system: str):
    """The structure every run of ``system`` starts from (``Atoms`` without a calculator)."""
    if system == "ala2":
        from ...atoms.alanine import alanine_dipeptide  # noqa: PLC0415
        return alanine_dipeptide()
    return co2_cell() if system == "co2" else silicon_cell()


@dataclass(frozen=True)
class Sampler:
    """One chain of the loop: biased (UB-MD) or plain MD at ``temperature_K``."""

    name: str
    biased: bool
    temperature_K: float


def perturbed(atoms, n_frames: int, displacement: float, strain: float, seed: int) -> list:
    """``n_frames`` copies of ``atoms`` with Gaussian displacements (Å) and, for a periodic cell,
    symmetric Gaussian strains (relative), seeded."""
    import numpy as np  # noqa: PLC0415
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n_frames):
        frame = atoms.copy()
        if frame.pbc.all():
            eps = rng.normal(0.0, strain, (3, 3))
            frame.set_cell(frame.cell.array @ (np.eye(3) + 0.5 * (eps + eps.T)), scale_atoms=True)
        frame.positions += rng.normal(0.0, displacement, frame.positions.shape)
        frames.append(frame)
    return frames


@dataclass
class UBMDConfig:
    """Every setting of a run. τ and τ_S are the adaptive bias strengths (dimensionless);
    thresholds are calibrated uncertainties (atomic: eV/Å, structure: eV/atom)."""

    system: str = "ala2"
    ensemble: str = "auto"   # "nvt", "npt" or "auto" (NPT for the periodic systems, NVT for the molecule)
    uncertainty: str = "gradient"
    selection: str = "max_det"
    iterations: int = 8
    initial_frames: int = 60
    initial_temperature_K: float = 300.0
    test_frames: int = 100
    walkers: int = 4
    steps: int = 2000
    interval: int = 100
    n_select: int = 20
    timestep_fs: float = 0.5
    temperature_K: float = 300.0
    md_temperatures: tuple = (300.0, 1200.0)
    pressures_GPa: tuple = (-5.0, 5.0)
    pdamp_fs: float = 500.0
    tau: float = 0.2
    tau_stress: float = 0.2
    window: int = 100
    atomic_threshold: float = 3.0
    n_features: int = 512
    sigma: float = 0.01
    alpha: float = 0.05
    ensemble_size: int = 4
    valid_every: int = 3
    surrogate_epochs: int = 200
    finetune_epochs: int = 60
    finetune_mode: str = "full"   # "full" (every weight) or "lora" (rank-4 adapters)
    stress_weight: float = 1000.0   # stress in eV/Å³ is ~100× smaller than forces in eV/Å
    seed: int = 0
    samplers: tuple = field(default=())

    def validate(self) -> "UBMDConfig":
        """Raise ValueError on any setting out of range; return self."""
        for name, value, choices in (("system", self.system, SYSTEMS), ("uncertainty", self.uncertainty,
                                     UNCERTAINTIES), ("selection", self.selection, SELECTIONS)):
            if value not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        for name in ("iterations", "initial_frames", "test_frames", "walkers", "steps", "interval", "n_select",
                     "window", "n_features", "valid_every", "surrogate_epochs", "finetune_epochs"):
            positive_int(name, getattr(self, name))
        positive_int("seed", self.seed, minimum=0)
        for name in ("timestep_fs", "temperature_K", "initial_temperature_K", "pdamp_fs", "tau", "tau_stress",
                     "atomic_threshold", "sigma"):
            positive(name, getattr(self, name))
        for temperature in self.md_temperatures:
            positive("md_temperatures", temperature)
        non_negative("stress_weight", self.stress_weight)
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {self.alpha}")
        if self.valid_every < 2:
            raise ValueError("valid_every must be >= 2 (every valid_every-th label calibrates, the rest train)")
        if self.uncertainty == "ensemble" and self.ensemble_size < 2:
            raise ValueError(f"an ensemble needs at least 2 models, got ensemble_size={self.ensemble_size}")
        if self.finetune_mode not in ("full", "lora"):
            raise ValueError(f"finetune_mode must be 'full' or 'lora', got {self.finetune_mode!r}")
        if self.ensemble not in ("auto", "nvt", "npt"):
            raise ValueError(f"ensemble must be 'auto', 'nvt' or 'npt', got {self.ensemble!r}")
        if self.ensemble == "npt" and not self.periodic:
            raise ValueError(f"NPT needs a periodic system with a full 3D cell; {self.system} is a molecule")
        if self.periodic:
            if not self.pressures_GPa or not all(math.isfinite(p) for p in self.pressures_GPa):
                raise ValueError(f"pressures_GPa must be finite numbers, got {self.pressures_GPa}")
            if self.stress_weight <= 0:
                raise ValueError("a periodic run fits stress labels: stress_weight must be > 0")
        n_calibration = self.initial_frames // self.valid_every
        if n_calibration < math.ceil(1.0 / self.alpha) - 1:
            raise ValueError(f"initial_frames={self.initial_frames} leaves {n_calibration} calibration frames, "
                             f"too few for alpha={self.alpha}")
        names = [s.name for s in self.chosen_samplers()]
        if len(set(names)) != len(names):
            raise ValueError(f"repeated samplers {names}")
        return self

    @property
    def periodic(self) -> bool:
        """True for the periodic systems (NPT, stress labels, cell volumes as the visited region)."""
        return self.system in PERIODIC

    def dynamics(self) -> str:
        """The ensemble sampled: ``ensemble``, or for "auto" NPT (periodic) / NVT (molecule)."""
        if self.ensemble != "auto":
            return self.ensemble
        return "npt" if self.periodic else "nvt"

    def chosen_samplers(self) -> list:
        """The biased sampler at ``temperature_K`` and plain MD at each of ``md_temperatures``."""
        biased = Sampler(f"ubmd{self.temperature_K:g}", True, float(self.temperature_K))
        return [biased] + [Sampler(f"md{t:g}", False, float(t)) for t in self.md_temperatures]


#: Small settings that run end to end in minutes on 2 cores (``skmd ubmd --quick``).
QUICK = {
    "ala2": dict(iterations=2, initial_frames=60, test_frames=60, walkers=2, steps=300, interval=30, n_select=10,
                 surrogate_epochs=30, finetune_epochs=8, n_features=256, ensemble_size=2, window=20),
    "periodic": dict(iterations=2, initial_frames=60, test_frames=30, walkers=1, steps=300, interval=30,
                     n_select=8, timestep_fs=2.0, md_temperatures=(300.0,), atomic_threshold=3.0,
                     pressures_GPa=(-2.0, 2.0),
                     surrogate_epochs=60, finetune_epochs=8, n_features=256, ensemble_size=2, window=5),
    "co2": dict(iterations=2, initial_frames=90, test_frames=40, walkers=2, steps=300, interval=30, n_select=8,
                timestep_fs=1.0, md_temperatures=(300.0,), atomic_threshold=1.0, pressures_GPa=(-1.0, 1.0),
                surrogate_epochs=100, finetune_epochs=10, n_features=256, ensemble_size=2, window=5),
}
FULL = {"ala2": {}, "periodic": dict(timestep_fs=2.0, md_temperatures=(300.0,), atomic_threshold=2.0, walkers=2),
        "co2": dict(timestep_fs=1.0, md_temperatures=(300.0,), atomic_threshold=0.7, pressures_GPa=(-1.0, 1.0),
                    walkers=2)}

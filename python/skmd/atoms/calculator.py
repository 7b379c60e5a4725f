"""An ASE calculator for a MACE model that also returns the pooled descriptor (and stress).

``MACEDescriptorCalculator`` behaves like mace's own ``MACECalculator`` for energy (eV), forces
(eV/Å) and, on periodic cells, stress (eV/Å³, ASE's Voigt order and sign), takes a model object
(so that a fine-tuned model in memory is used as is) and puts the global descriptor (M,) of
:class:`~skmd.atoms.descriptors.MACEDescriptor` in ``results["descriptor"]`` from the same model
call. The Stein bias reads it from there, so one step costs one model call.

``dtype="float32"`` samples with a float32 copy of the model (mace's own ``model.float()``
conversion; a float32 graph is built by ``mace.tools.torch_tools.default_dtype``); labels and
training stay float64.
"""
from __future__ import annotations

import copy

from ase.calculators.calculator import Calculator, all_changes

from ..tools.checks import finite_structure
from .descriptors import DTYPES, MACEDescriptor


class MACEDescriptorCalculator(Calculator):
    """ASE calculator: energy, forces, stress and the pooled invariant descriptor of a MACE model.

    Args:
        model: a MACE ``torch.nn.Module`` (e.g. from :func:`~skmd.atoms.mace_models.load_mace`).
        pooling, subset: as in :class:`MACEDescriptor`.
        dtype: "float64" (default) or "float32" (a converted copy of the model; faster on CPU).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "descriptor"]

    def __init__(self, model, pooling: str = "sum", subset=None, dtype: str = "float64", **kwargs):
        super().__init__(**kwargs)
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        if next(model.parameters()).dtype != DTYPES[dtype]:
            model = copy.deepcopy(model).to(DTYPES[dtype])
        self.model = model
        self.dtype = dtype
        self.descriptor = MACEDescriptor(model, pooling=pooling, subset=subset)
        self.calls = 0

    def descriptor_for(self, atoms) -> MACEDescriptor:
        """The :class:`MACEDescriptor` of this calculator, after checking it can describe ``atoms``."""
        self.descriptor.check(atoms)
        return self.descriptor

    def check_stress(self, atoms) -> None:
        """Raise unless stress can be computed for ``atoms`` (periodic in 3D with a full cell)."""
        if not atoms.pbc.all() or atoms.cell.rank < 3:
            raise ValueError("stress needs a periodic system with a full 3D cell (atoms.pbc all True)")

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        finite_structure(self.atoms)
        stress = "stress" in properties or (self.atoms.pbc.all() and self.atoms.cell.rank == 3)
        if stress:
            self.check_stress(self.atoms)
        self.descriptor.check(self.atoms)
        result = self.descriptor.evaluate(self.atoms, stress=stress)
        self.calls += 1
        result["free_energy"] = result["energy"]
        self.results = result

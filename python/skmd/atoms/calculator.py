"""An ASE calculator for a MACE model that also returns the pooled descriptor.

``MACEDescriptorCalculator`` behaves like mace's own ``MACECalculator`` for energy (eV) and
forces (eV/Å), takes a model object (so that a fine-tuned model in memory is used as is) and
puts the global descriptor (M,) of :class:`~skmd.atoms.descriptors.MACEDescriptor` in
``results["descriptor"]`` from the same model call. Atomistic SKMD reads it from there, so one
step costs one model call.
"""
from __future__ import annotations

from ase.calculators.calculator import Calculator, all_changes

from .descriptors import MACEDescriptor


class MACEDescriptorCalculator(Calculator):
    """ASE calculator: energy, forces and the pooled invariant descriptor of a MACE model.

    Args:
        model: a MACE ``torch.nn.Module`` (float64, e.g. from :func:`~skmd.atoms.mace_models.load_mace`).
        pooling, subset: as in :class:`MACEDescriptor`.
    """

    implemented_properties = ["energy", "free_energy", "forces", "descriptor"]

    def __init__(self, model, pooling: str = "sum", subset=None, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.pooling = pooling
        self.subset = subset
        self.calls = 0
        self._evaluators = {}

    def descriptor_for(self, atoms) -> MACEDescriptor:
        """The :class:`MACEDescriptor` used for molecules with the species of ``atoms``."""
        key = (tuple(atoms.numbers), tuple(atoms.pbc), tuple(atoms.cell.ravel()))
        if key not in self._evaluators:
            self._evaluators[key] = MACEDescriptor(self.model, atoms, pooling=self.pooling, subset=self.subset)
        return self._evaluators[key]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        energy, forces, descriptor = self.descriptor_for(self.atoms).evaluate(self.atoms.positions)
        self.calls += 1
        self.results = {"energy": energy, "free_energy": energy, "forces": forces, "descriptor": descriptor}

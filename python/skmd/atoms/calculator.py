"""An ASE calculator for a MACE model that also returns the pooled descriptor (and stress).

``MACEDescriptorCalculator`` behaves like mace's own ``MACECalculator`` for energy (eV), forces
(eV/Å) and, on periodic cells, stress (eV/Å³, ASE's Voigt order and sign), takes a model object
(so that a fine-tuned model in memory is used as is) and puts the global descriptor (M,) of
:class:`~skmd.atoms.descriptors.MACEDescriptor` in ``results["descriptor"]`` from the same model
call. The Stein bias reads it from there, so one step costs one model call.

It is *batchable* (:mod:`skmd.atoms.batching`): :meth:`MACEDescriptorCalculator.calculate_batch`
evaluates many structures in one collated model call, which the lockstep driver and the scoring use.

``dtype="float32"`` samples with a float32 copy of the model (mace's own ``model.float()``
conversion; a float32 graph is built by ``mace.tools.torch_tools.default_dtype``); labels and
training stay float64. ``device`` ("cpu", "cuda" or "auto") is where the model runs.
"""
from __future__ import annotations

import copy

from ase.calculators.calculator import Calculator, all_changes

from ..tools.checks import finite_structure
from ..tools.device import resolve_device
from .descriptors import DTYPES, MAX_BATCH_ATOMS, MACEDescriptor
from .model_guard import building


class MACEDescriptorCalculator(Calculator):
    """ASE calculator: energy, forces, stress and the pooled invariant descriptor of a MACE model.

    Args:
        model: a MACE ``torch.nn.Module`` (e.g. from :func:`~skmd.atoms.mace_models.load_mace`).
        pooling, subset, max_atoms: as in :class:`MACEDescriptor`.
        dtype: "float64" (default) or "float32" (a converted copy of the model; faster on CPU).
        device: "cpu" (default), "cuda" or "auto" (a copy of the model is moved there if needed).

    ``calls`` counts model calls (a batch is one call).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "descriptor"]
    batchable = True

    def __init__(self, model, pooling: str = "sum", subset=None, dtype: str = "float64", device: str = "cpu",
                 max_atoms: int = MAX_BATCH_ATOMS, **kwargs):
        super().__init__(**kwargs)
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        device = resolve_device(device)
        parameter = next(model.parameters())
        if parameter.dtype != DTYPES[dtype] or parameter.device.type != device:
            with building():
                model = copy.deepcopy(model).to(dtype=DTYPES[dtype], device=device)
        self.model = model
        self.dtype = dtype
        self.device = device
        self.descriptor = MACEDescriptor(model, pooling=pooling, subset=subset, max_atoms=max_atoms)
        self.calls = 0

    def descriptor_for(self, atoms) -> MACEDescriptor:
        """The :class:`MACEDescriptor` of this calculator, after checking it can describe ``atoms``."""
        self.descriptor.check(atoms)
        return self.descriptor

    def check_stress(self, atoms) -> None:
        """Raise unless stress can be computed for ``atoms`` (periodic in 3D with a full cell)."""
        if not atoms.pbc.all() or atoms.cell.rank < 3:
            raise ValueError("stress needs a periodic system with a full 3D cell (atoms.pbc all True)")

    def _wants_stress(self, atoms, properties) -> bool:
        finite_structure(atoms)
        stress = "stress" in properties or (atoms.pbc.all() and atoms.cell.rank == 3)
        if stress:
            self.check_stress(atoms)
        self.descriptor.check(atoms)
        return stress

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = self.calculate_batch([self.atoms], [properties])[0]

    def calculate_batch(self, frames, properties) -> list:
        """Results (one dict per frame, as :meth:`calculate` sets them) of ``frames`` from collated model
        calls; ``properties``: one list of names per frame. Leaves this calculator's own cache alone."""
        wants = [self._wants_stress(atoms, names) for atoms, names in zip(frames, properties)]
        results = self.descriptor.evaluate_many(frames, stress=wants)
        self.calls += len(self.descriptor.last_chunks)
        for result in results:
            result["free_energy"] = result["energy"]
        return results

"""The oracle honours atoms.info["charge"] and the spin multiplicity, or refuses before any call."""
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.emt import EMT

from skmd.atoms import LabelStore, Oracle
from skmd.atoms.oracle import ENERGY_KEY, charge_and_multiplicity, gfn2_xtb


def _hydroxide(charge=None, multiplicity=None, **info):
    atoms = Atoms("OH", positions=[[0.0, 0.0, 0.0], [0.0, 0.0, 0.97]])
    if charge is not None:
        atoms.info["charge"] = charge
    if multiplicity is not None:
        atoms.info["multiplicity"] = multiplicity
    atoms.info.update(info)
    return atoms


class NeverCalled:
    """A factory without charge/multiplicity arguments that records whether it was called."""

    def __init__(self):
        self.called = False

    def __call__(self):
        self.called = True
        return EMT()


def test_charge_and_multiplicity_are_read_and_checked():
    assert charge_and_multiplicity(_hydroxide()) == (None, None)
    assert charge_and_multiplicity(_hydroxide(-1, 1)) == (-1, 1)
    assert charge_and_multiplicity(_hydroxide(spin=2)) == (None, 2)          # spin is 2S + 1 too
    with pytest.raises(ValueError, match="disagree"):
        charge_and_multiplicity(_hydroxide(multiplicity=2, spin=4))
    with pytest.raises(ValueError, match="parity"):
        charge_and_multiplicity(_hydroxide(0, 1))                             # 9 electrons cannot be a singlet
    with pytest.raises(ValueError, match="integer"):
        charge_and_multiplicity(_hydroxide(-0.5))


def test_a_factory_that_cannot_honour_a_charge_is_refused_before_any_call(tmp_path):
    factory = NeverCalled()
    with pytest.raises(ValueError, match="charge"):
        Oracle(factory).label([_hydroxide(), _hydroxide(-1, 1)])
    store = LabelStore(tmp_path, Oracle(factory))
    with pytest.raises(ValueError, match="multiplicity"):
        store.label("job", [_hydroxide(multiplicity=4)])
    assert not factory.called and store.oracle_calls == 0
    neutral = Oracle(factory).label([_hydroxide(0, 2)])      # neutral, the default: no argument needed
    assert factory.called and len(neutral.labelled) == 1


@pytest.mark.slow
def test_gfn2_xtb_labels_hydroxide_with_its_charge():
    pytest.importorskip("tblite")
    from tblite.ase import TBLite

    anion = Oracle(gfn2_xtb).label([_hydroxide(-1, 1)]).labelled[0]
    radical = Oracle(gfn2_xtb).label([_hydroxide(0, 2)]).labelled[0]
    reference = _hydroxide()
    reference.calc = TBLite(method="GFN2-xTB", charge=-1, multiplicity=1, verbosity=0)
    assert anion.info[ENERGY_KEY] == pytest.approx(reference.get_potential_energy(), abs=1e-8)
    assert abs(anion.info[ENERGY_KEY] - radical.info[ENERGY_KEY]) > 0.5        # eV: the charge reached xTB
    assert anion.info["charge"] == -1 and np.all(np.isfinite(anion.arrays["REF_forces"]))

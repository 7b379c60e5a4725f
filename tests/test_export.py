"""``skmd export``: a campaign's model (skmd's safe format) as a mace .model that mace's own calculator runs."""
import numpy as np
import pytest

pytest.importorskip("mace")

from ase.build import bulk, molecule  # noqa: E402
from ase.md.verlet import VelocityVerlet  # noqa: E402

from skmd.atoms import MACEDescriptorCalculator, build_mace, export_mace, save_mace  # noqa: E402
from skmd.cli.main import main  # noqa: E402


def test_an_exported_model_gives_skmds_energies_and_forces_in_maces_calculator(tmp_path):
    from mace.calculators import MACECalculator
    safe = save_mace(build_mace(channels=8, seed=3), tmp_path / "model.safetensors")
    exported = export_mace(safe, tmp_path / "exported.model")
    theirs = MACECalculator(model_paths=str(exported), device="cpu", default_dtype="float64")
    ours = MACEDescriptorCalculator(build_mace(channels=8, seed=3))
    for atoms in (molecule("CH3CH2OH"), molecule("H2O")):
        atoms.rattle(0.05, seed=1)
        a, b = atoms.copy(), atoms.copy()
        a.calc, b.calc = theirs, ours
        assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=1e-8)
        np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=1e-8)
    atoms = molecule("CH3CH2OH")
    atoms.calc = theirs
    VelocityVerlet(atoms, timestep=0.5).run(3)       # production MD with mace's calculator


def test_skmd_export_on_the_command_line(tmp_path, capsys):
    safe = save_mace(build_mace(channels=8, atomic_numbers=[29], seed=1), tmp_path / "cu.safetensors")
    assert main(["export", str(safe), str(tmp_path / "cu.model")]) == 0
    assert "MACECalculator(model_paths=" in capsys.readouterr().out
    from mace.calculators import MACECalculator
    cell = bulk("Cu", "fcc", a=3.6, cubic=True)
    cell.calc = MACECalculator(model_paths=str(tmp_path / "cu.model"), device="cpu", default_dtype="float64")
    assert np.isfinite(cell.get_stress()).all()
    junk = tmp_path / "junk.safetensors"
    junk.write_text("not a model")
    assert main(["export", str(junk), str(tmp_path / "out.model")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("skmd export: error:") and "\n" not in error


def test_unreadable_model_files_get_one_line_saying_what_they_are(tmp_path):
    from skmd.atoms.mace_models import load_mace
    from skmd.atoms.model_files import UntrustedModelError
    text = tmp_path / "notes.safetensors"
    text.write_text("a text file, not a model")
    for trusted in (False, True):
        with pytest.raises(ValueError, match="is not a model file: neither skmd's safe format") as caught:
            load_mace(text, trusted=trusted)
        assert not isinstance(caught.value, UntrustedModelError)   # trust would not help
    broken = tmp_path / "broken.model"
    broken.write_bytes(b"\x80\x04 a truncated pickle")
    with pytest.raises(UntrustedModelError, match="it is a pickle"):
        load_mace(broken)
    with pytest.raises(ValueError, match="could not be read as a model .UnpicklingError"):
        load_mace(broken, trusted=True)

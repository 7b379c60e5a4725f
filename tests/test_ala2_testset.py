"""The fixed alanine-dipeptide test set: φ/ψ setting, basin labels, coverage, per-basin RMSE."""
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mace")

from ase.build import molecule  # noqa: E402
from ase.calculators.calculator import Calculator, all_changes  # noqa: E402
from ase.calculators.lj import LennardJones  # noqa: E402

from skmd.atoms.alanine import alanine_dipeptide, ramachandran  # noqa: E402
from skmd.atoms.mace_models import build_mace, save_mace  # noqa: E402
from skmd.atoms.oracle import ENERGY_KEY, FORCES_KEY  # noqa: E402
from skmd.studies.ala2_metrics import (mace_calculator, ramachandran_coverage, rmse_by_basin,  # noqa: E402
                                       visited_cells)
from skmd.studies.ala2_testset import (BASIN_CENTRES, OTHER, DihedralRestraint, angle_difference,  # noqa: E402
                                       bonded_side, build_testset, classify_basin, load_testset, set_phi_psi)

ROOT = Path(__file__).resolve().parents[1]
TESTSET = ROOT / "python" / "skmd" / "data" / "ala2_testset.extxyz"
MANIFEST = TESTSET.with_suffix(".json")


def bonded_distances(atoms, reference):
    """Distances in ``atoms`` of the pairs closer than 1.6 Å in ``reference``."""
    return atoms.get_all_distances()[reference.get_all_distances() < 1.6]


@pytest.mark.parametrize("phi, psi", [*BASIN_CENTRES.values(), (180.0, -180.0), (0.0, 0.0), (-120.5, 33.3)])
def test_set_phi_psi_round_trip_keeps_bonds(phi, psi):
    start = alanine_dipeptide()
    moved = set_phi_psi(start, phi, psi)
    assert np.allclose(angle_difference(ramachandran(moved), (phi, psi)), 0.0, atol=1e-6)
    assert np.allclose(bonded_distances(moved, start), bonded_distances(start, start), atol=1e-9)
    assert np.allclose(start.positions, alanine_dipeptide().positions)   # the input is not moved


def test_moving_masks_are_the_far_side_of_each_bond():
    atoms = alanine_dipeptide()
    phi_side = np.flatnonzero(bonded_side(atoms, (3, 4)))     # N–Cα: Cα and everything after it
    psi_side = np.flatnonzero(bonded_side(atoms, (4, 6)))     # Cα–C: the C-terminal amide
    assert phi_side.tolist() == [4, 5, 6, 7, 8, 9, 14, 15, 16, 17, 18, 19, 20, 21]
    assert psi_side.tolist() == [6, 7, 8, 9, 18, 19, 20, 21]
    with pytest.raises(ValueError, match="ring"):
        bonded_side(molecule("C6H6"), (0, 1))
    with pytest.raises(ValueError, match="22 atoms"):
        set_phi_psi(molecule("CH4"), 0.0, 0.0)


def test_basins_of_constructed_frames():
    for name, (phi, psi) in BASIN_CENTRES.items():
        for offset in ((12.0, -9.0), (-20.0, 15.0)):
            frame = set_phi_psi(alanine_dipeptide(), phi + offset[0], psi + offset[1])
            assert classify_basin(ramachandran(frame)) == name
    assert classify_basin((-179.0, -175.0)) == "C5"            # across the ±180° seam
    assert classify_basin((0.0, 180.0)) == OTHER
    assert classify_basin([[-83.0, 73.0], [70.0, -60.0]]) == ["C7eq", "C7ax"]
    with pytest.raises(ValueError, match="shape"):
        classify_basin(np.zeros((2, 3)))


def test_coverage_counts_cells():
    assert ramachandran_coverage([]) == 0.0
    same_cell = [[-175.0, -175.0], [-171.0, -179.9]]
    assert ramachandran_coverage(same_cell) == pytest.approx(1 / 1296)
    cells = visited_cells([[180.0, 180.0], [-180.0, -180.0], [179.9, -0.1]])
    assert cells[0, 0] and cells[35, 17] and cells.sum() == 2    # +180° wraps onto −180°
    diagonal = [[-175.0 + 10 * k, -175.0 + 10 * k] for k in range(36)]
    assert ramachandran_coverage(diagonal) == pytest.approx(36 / 1296)
    assert ramachandran_coverage(diagonal, cell_deg=20.0) == pytest.approx(18 / 324)
    frames = [set_phi_psi(alanine_dipeptide(), *centre) for centre in BASIN_CENTRES.values()]
    assert ramachandran_coverage(frames) == pytest.approx(5 / 1296)
    with pytest.raises(ValueError, match="divide 360"):
        ramachandran_coverage(same_cell, cell_deg=7.0)
    with pytest.raises(ValueError, match="finite"):
        ramachandran_coverage([[np.nan, 0.0]])


def test_dihedral_restraint_forces_match_finite_differences():
    atoms = set_phi_psi(alanine_dipeptide(), -20.0, -85.0)           # 50° and 45° off αR
    calculator = DihedralRestraint(LennardJones(sigma=1.0, epsilon=0.01, rc=4.0), BASIN_CENTRES["αR"], 30.0, 2.0)
    inner = LennardJones(sigma=1.0, epsilon=0.01, rc=4.0)
    assert calculator.get_potential_energy(atoms) - inner.get_potential_energy(atoms) == pytest.approx(
        0.5 * 2.0 * np.radians(20.0) ** 2 + 0.5 * 2.0 * np.radians(15.0) ** 2, rel=1e-6)
    forces, step = calculator.get_forces(atoms), 1e-5
    for i, d in [(1, 0), (3, 1), (4, 2), (6, 0), (8, 1), (10, 2)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, d] += step
        minus.positions[i, d] -= step
        slope = (calculator.get_potential_energy(plus) - calculator.get_potential_energy(minus)) / (2 * step)
        assert forces[i, d] == pytest.approx(-slope, abs=1e-6)
    with pytest.raises(ValueError):
        DihedralRestraint(inner, (0.0, 0.0), half_width=-1.0)


class ShiftedLabels(Calculator):
    """Returns each test frame's own labels shifted by a known amount (to check the RMSE units)."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, frames, energy_shift_per_atom, force_shift):
        super().__init__()
        self.labels = {f.positions.tobytes(): (f.info[ENERGY_KEY], f.arrays[FORCES_KEY]) for f in frames}
        self.energy_shift_per_atom, self.force_shift = energy_shift_per_atom, force_shift

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        energy, forces = self.labels[self.atoms.positions.tobytes()]
        energy = energy + self.energy_shift_per_atom * len(self.atoms)
        self.results = {"energy": energy, "free_energy": energy, "forces": forces + self.force_shift}


@pytest.fixture(scope="module")
def testset():
    manifest = json.loads(MANIFEST.read_text())
    frames = load_testset(TESTSET, expected_sha256=manifest["sha256"])
    return manifest, frames


def test_shipped_set_matches_its_manifest(testset, tmp_path):
    manifest, frames = testset
    assert TESTSET.stat().st_size < 2_000_000
    assert len(frames) == manifest["frames"] == sum(manifest["counts_by_target_basin"].values())
    counts = {name: sum(f.info["basin"] == name for f in frames) for name in manifest["counts_by_basin"]}
    assert counts == manifest["counts_by_basin"]
    assert set(manifest["counts_by_target_basin"]) == set(BASIN_CENTRES)
    for frame in frames[::25]:   # stored labels are the frames' own φ/ψ
        assert classify_basin((frame.info["phi"], frame.info["psi"])) == frame.info["basin"]
        assert np.allclose(ramachandran(frame), (frame.info["phi"], frame.info["psi"]), atol=1e-4)
    altered = tmp_path / "altered.extxyz"
    altered.write_text(TESTSET.read_text().replace("REF_energy=-", "REF_energy=-1", 1))
    with pytest.raises(ValueError, match="not the fixed test set"):
        load_testset(altered, expected_sha256=manifest["sha256"])


def test_rmse_units_with_known_shifts(testset):
    _, frames = testset
    errors = rmse_by_basin(ShiftedLabels(frames, 0.002, 0.05), frames)
    for entry in errors.values():
        assert entry["energy_rmse_meV_atom"] == pytest.approx(2.0, rel=1e-6)
        assert entry["force_rmse_meV_A"] == pytest.approx(50.0, rel=1e-6)
    with pytest.raises(ValueError, match="lacks"):
        rmse_by_basin(ShiftedLabels(frames, 0.0, 0.0), [alanine_dipeptide()])


@pytest.mark.slow
def test_mace_rmse_per_basin_on_the_shipped_set(testset, tmp_path):
    manifest, frames = testset
    path = save_mace(build_mace(channels=8, seed=1), tmp_path / "small.safetensors")
    errors = rmse_by_basin(mace_calculator(path), frames)
    assert errors["all"]["n_frames"] == len(frames)
    basins = [name for name in errors if name != "all"]
    assert {name: errors[name]["n_frames"] for name in basins} == manifest["counts_by_basin"]
    for key in ("energy_rmse_meV_atom", "force_rmse_meV_A"):   # per-basin MSEs pool to the total (equal atoms)
        pooled = sum(errors[name]["n_frames"] * errors[name][key] ** 2 for name in basins) / len(frames)
        assert np.sqrt(pooled) == pytest.approx(errors["all"][key], rel=1e-9)
        assert all(np.isfinite(errors[name][key]) and errors[name][key] > 0 for name in basins)
    by_target = rmse_by_basin(mace_calculator(path), frames[:120:6], basin_key="target_basin")
    assert list(by_target) == ["all", *list(BASIN_CENTRES)[:2]]


def test_build_refuses_bad_input_before_work():
    with pytest.raises(ValueError, match="unknown basins"):
        build_testset(None, None, basins=["beta"])
    with pytest.raises(ValueError, match="unknown basins"):
        build_testset(None, None, restrained=["PII"])
    with pytest.raises(ValueError, match="frames_per_basin"):
        build_testset(None, None, frames_per_basin=0)


@pytest.mark.slow
def test_build_with_xtb_is_labelled_and_reproducible():
    pytest.importorskip("tblite")
    from skmd.atoms.oracle import Oracle, gfn2_xtb

    def build():
        return build_testset(Oracle(gfn2_xtb), gfn2_xtb, seed=3, frames_per_basin=2, stride=5, equilibration=5,
                             basins=["αR", "C7ax"], restrained=["αR"])

    first, second = build(), build()
    assert [f.info["target_basin"] for f in first] == ["αR", "αR", "C7ax", "C7ax"]
    assert [f.info["basin"] for f in first] == ["αR", "αR", "C7ax", "C7ax"]
    for a, b in zip(first, second):
        assert np.array_equal(a.positions, b.positions)
        assert a.arrays[FORCES_KEY].shape == (22, 3) and np.isfinite(a.info[ENERGY_KEY])
        assert "momenta" not in a.arrays


def test_the_studies_per_basin_table_is_the_campaigns_score_per_basin(testset):
    """ala2_metrics' table holds a campaign score's per-basin entries, in the basins' order, with the whole set's
    summary RMSEs under "all"; the worst basin is the one of the largest force error."""
    from skmd.atoms.scoring import score
    _, frames = testset
    calculator = LennardJones(sigma=0.9, epsilon=0.005, rc=4.0)
    scored = score(calculator, frames[::5])
    reference = rmse_by_basin(calculator, frames[::5])
    assert list(scored["per_basin"]) == list(BASIN_CENTRES) == list(reference)[1:]
    for name, entry in scored["per_basin"].items():
        assert entry == reference[name] and entry["n_frames"] == 12
    assert reference["all"]["force_rmse_meV_A"] == pytest.approx(scored["force_rmse_meV_A"], rel=1e-12)
    assert reference["all"]["energy_rmse_meV_atom"] == pytest.approx(scored["energy_rmse_meV_atom"], rel=1e-12)
    forces = {name: entry["force_rmse_meV_A"] for name, entry in scored["per_basin"].items()}
    assert len(set(forces.values())) == len(forces)                      # the basins' errors differ
    assert scored["worst_basin"] == {"basin": max(forces, key=forces.get), "force_rmse_meV_A": max(forces.values())}
    partial = [frame.copy() for frame in frames[:3]]
    del partial[0].info["basin"]                                         # one frame without a basin: no per-basin
    assert not {"per_basin", "worst_basin"} & set(score(calculator, partial))


def test_a_basins_force_rmse_pools_components_over_frames_of_any_size(testset):
    """Frames of 22 and of 9 atoms in one basin: its force RMSE is the one over all their components."""
    from skmd.atoms.scoring import by_basin, frame_errors, score
    _, frames = testset
    mixed = [frames[0].copy(), frames[1].copy()[:9], frames[2].copy()[:9]]
    for frame in mixed:
        frame.info["basin"] = "one"
    calculator = LennardJones(sigma=0.9, epsilon=0.005, rc=4.0)
    scored = score(calculator, mixed)
    assert scored["per_basin"]["one"]["force_rmse_meV_A"] == pytest.approx(scored["force_rmse_meV_A"], rel=1e-12)
    errors = frame_errors(calculator, mixed)
    unweighted = float(np.sqrt(np.mean(errors["forces"] ** 2)))
    assert abs(unweighted - scored["force_rmse_meV_A"]) > 1e-3 * scored["force_rmse_meV_A"]   # the weights matter
    split = by_basin(errors, ["a", "b", "b"], [22, 9, 9])["per_basin"]
    assert split["a"]["force_rmse_meV_A"] == pytest.approx(errors["forces"][0], rel=1e-12)
    assert split["b"]["n_frames"] == 2
    with pytest.raises(ValueError, match="one entry per frame"):
        by_basin(errors, ["a", "b"], [22, 9, 9])

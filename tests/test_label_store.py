"""Oracle failures in the label store: counted, reported with the oracle's message, a clear stop when
too many fail, retried only on request; the oracle is part of a run's recorded settings."""
import os
import warnings

import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from skmd.atoms import LabelStore, Oracle
from skmd.atoms.oracle import oracle_name
from skmd.atoms.store import LabellingError, atomic_write_text
from skmd.studies.rundir import check_config
from skmd.studies.ubmd import UBMDConfig


class Flaky(EMT):
    """EMT that raises for frames whose first atom sits at x > 0.5 Å, unless ``fixed``."""

    fixed = False

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        if not Flaky.fixed and atoms.positions[0, 0] > 0.5:
            raise RuntimeError(f"SCF did not converge at x = {atoms.positions[0, 0]:.2f}")
        super().calculate(atoms, properties, system_changes)


def copper_frames(shifts):
    frames = []
    for shift in shifts:
        atoms = bulk("Cu", cubic=True)
        atoms.positions[0, 0] += shift
        frames.append(atoms)
    return frames


@pytest.fixture(autouse=True)
def broken_oracle():
    Flaky.fixed = False
    yield
    Flaky.fixed = False


def test_failures_are_reported_with_the_oracle_message_and_retried_only_on_request(tmp_path):
    store = LabelStore(tmp_path, Oracle(Flaky), batch_size=2)
    frames = copper_frames([0.0, 0.7, 0.1, 0.0, 0.9])
    with pytest.warns(UserWarning, match=r"labelling 'j': 2 of 5 frames failed \(RuntimeError: SCF did not converge"):
        labelled, failures = store.label("j", frames)
    assert len(labelled) == 3 and sorted(failures) == [1, 4]
    assert failures[1] == "RuntimeError: SCF did not converge at x = 0.70"
    assert store.oracle_calls == 5
    Flaky.fixed = True
    with pytest.warns(UserWarning, match="2 of 5 frames failed"):
        store.label("j", frames)                       # a rerun never resends a failed key unasked
    assert store.oracle_calls == 5
    labelled, failures = store.label("j", frames, retry_failed=True)
    assert len(labelled) == 5 and failures == {}
    assert store.sent_keys()[5:] == ["j/1", "j/4"]
    assert (tmp_path / "oracle_calls.log").read_text().splitlines()[5:] == ["j/1 retry", "j/4 retry"]


def test_too_many_failures_stop_the_job_with_one_line(tmp_path):
    store = LabelStore(tmp_path, Oracle(Flaky), max_failed_fraction=0.5)
    frames = copper_frames([0.7] * 10)
    with pytest.raises(LabellingError, match=r"^labelling 'init' stopped: 6 of 10 frames failed "
                                             r"\(RuntimeError: SCF did not converge at x = 0.70 ×6\)") as error:
        store.label("init", frames)
    assert "\n" not in str(error.value) and store.oracle_calls == 6   # stopped before sending the rest
    with pytest.raises(LabellingError):                               # a rerun stops again, with no new call
        store.label("init", frames)
    assert store.oracle_calls == 6
    Flaky.fixed = True
    labelled, failures = LabelStore(tmp_path, Oracle(Flaky), retry_failed=True).label("init", frames)
    assert len(labelled) == 10 and not failures


def test_the_oracle_is_part_of_the_recorded_settings(tmp_path):
    assert oracle_name(EMT) == "ase.calculators.emt:EMT"
    assert oracle_name(Oracle(EMT).calculator_factory) == "ase.calculators.emt:EMT"
    config = UBMDConfig()
    check_config(tmp_path, config, {"oracle": oracle_name(EMT)})
    check_config(tmp_path, config, {"oracle": oracle_name(EMT)})
    from skmd.atoms.oracle import gfn2_xtb
    with pytest.raises(ValueError, match=r"other settings \(oracle\)"):
        check_config(tmp_path, config, {"oracle": oracle_name(gfn2_xtb)})


def test_label_files_are_fsynced_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append("replace") or real_replace(a, b))
    atomic_write_text(tmp_path / "a.failed", "reason\n")
    assert events[:2] == ["fsync", "replace"]
    events.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LabelStore(tmp_path / "s", Oracle(EMT)).label("j", copper_frames([0.0]))
    first_replace = events.index("replace")
    assert "fsync" in events[:first_replace]

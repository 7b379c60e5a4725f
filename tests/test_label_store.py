"""Oracle failures in the label store: counted, reported with the oracle's message, a clear stop when
too many fail, retried only on request; the oracle is part of a run's recorded settings."""
import os
import warnings

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from skmd.atoms import LabelStore, Oracle
from skmd.atoms.oracle import oracle_name
from skmd.atoms.store import LabellingError, atomic_write_text
from skmd.tools.rundir import check_config
from skmd.al import Campaign, CampaignConfig, make_config


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
    config = CampaignConfig(oracle=oracle_name(EMT))
    check_config(tmp_path, config, {"oracle": oracle_name(EMT)})
    check_config(tmp_path, config, {"oracle": oracle_name(EMT)})
    from skmd.atoms.oracle import gfn2_xtb
    with pytest.raises(ValueError, match=r"other settings \(oracle\)"):
        check_config(tmp_path, config, {"oracle": oracle_name(gfn2_xtb)})


def _copper_campaign_settings(tmp_path) -> dict:
    from ase.io import write
    write(tmp_path / "cu.extxyz", bulk("Cu", cubic=True))
    return {"structures": str(tmp_path / "cu.extxyz"), "out": str(tmp_path / "run"), "start_frames": 20}


def test_a_campaign_resumes_with_its_oracle_and_refuses_another(tmp_path):
    """The campaign's oracle, named in the config or passed as a callable, is recorded in config.json."""
    from skmd.atoms.oracle import gfn2_xtb
    settings = {**_copper_campaign_settings(tmp_path), "oracle": "ase.calculators.emt:EMT"}
    Campaign(make_config(settings), log=lambda *_: None)
    Campaign(make_config(settings), log=lambda *_: None)                  # the same oracle resumes
    campaign = Campaign(make_config(settings), oracle=EMT, log=lambda *_: None)   # so does the same one passed
    assert campaign.store.oracle_calls == 0
    with pytest.raises(ValueError, match=r"other settings \(oracle\);"):
        Campaign(make_config(settings), oracle=gfn2_xtb, log=lambda *_: None)
    assert (tmp_path / "run" / "config.json").read_text().count('"ase.calculators.emt:EMT"') == 1


def test_a_campaign_given_its_oracle_as_a_callable_resumes(tmp_path):
    config = make_config(_copper_campaign_settings(tmp_path))      # config.oracle: the default, gfn2_xtb
    Campaign(config, oracle=EMT, log=lambda *_: None)
    Campaign(config, oracle=EMT, log=lambda *_: None)


def test_a_campaign_with_another_oracle_names_it_once(tmp_path):
    settings = _copper_campaign_settings(tmp_path)
    Campaign(make_config(settings, {"oracle": "ase.calculators.emt:EMT"}), log=lambda *_: None)
    with pytest.raises(ValueError, match=r"other settings \(oracle\);"):
        Campaign(make_config(settings, {"oracle": "skmd.atoms.oracle:gfn2_xtb"}), log=lambda *_: None)


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


FAULTY_ORACLE = '''
import os, time
from pathlib import Path
from ase.calculators.emt import EMT

CALLS = Path(os.environ["FAULT_CALLS"])


class Faulty(EMT):
    """Appends the frame's index to CALLS, then raises for every 4th frame (1, 5, 9, ...) and
    hangs on frame 6 while the file HANG exists next to CALLS."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        index = int(round(atoms.positions[0, 0] / 0.01))
        with open(CALLS, "a") as handle:
            handle.write(f"{index}\\n")
            handle.flush()
            os.fsync(handle.fileno())
        if index % 4 == 1:
            raise RuntimeError(f"oracle crashed on frame {index}")
        while index == 6 and (CALLS.parent / "HANG").exists():
            time.sleep(0.05)
        super().calculate(atoms, properties, system_changes)
'''

LABEL_RUN = '''
import sys
from ase.build import bulk
from faulty_oracle import Faulty
from skmd.atoms import LabelStore, Oracle

frames = []
for index in range(12):
    atoms = bulk("Cu", cubic=True)
    atoms.positions[0, 0] = 0.01 * index
    frames.append(atoms)
store = LabelStore(sys.argv[1], Oracle(Faulty), batch_size=1, retry_failed=sys.argv[2] == "retry")
labelled, failures = store.label("job", frames)
print(len(labelled), sorted(failures))
'''


@pytest.mark.slow
def test_kill_during_a_hung_oracle_call_loses_and_duplicates_nothing(tmp_path):
    """Fault injection: an oracle that raises on a quarter of the frames and hangs on one; the labelling
    process is SIGKILLed while the oracle hangs, then rerun (the interrupted frame is sent again by
    itself, the failed ones are not), then rerun with retry_failed."""
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "faulty_oracle.py").write_text(FAULTY_ORACLE)
    (tmp_path / "label_run.py").write_text(LABEL_RUN)
    calls, store = tmp_path / "calls.txt", tmp_path / "store"
    (tmp_path / "HANG").touch()
    env = {**os.environ, "FAULT_CALLS": str(calls),
           "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, str(tmp_path / "label_run.py"), str(store)]
    process = subprocess.Popen(command + ["plain"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None \
            and (not calls.exists() or "6" not in calls.read_text().split()):
        time.sleep(0.05)
    time.sleep(0.2)
    assert process.poll() is None, process.communicate()[1][-2000:]
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert calls.read_text().split() == [str(i) for i in range(7)]   # hung on frame 6
    before = {p.name: p.read_text() for p in (store / "job").glob("*.extxyz")}
    assert len(before) == 4                                         # frames 0, 2, 3, 4 (1 and 5 raised)

    (tmp_path / "HANG").unlink()
    rerun = subprocess.run(command + ["plain"], env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert rerun.stdout.strip().splitlines()[-1] == "9 [1, 5, 9]"    # the interrupted frame 6 sent again unasked
    assert "3 of 12 frames failed" in rerun.stderr and "oracle crashed on frame" in rerun.stderr \
        and "--retry-failed" in rerun.stderr                       # every failure reported, with the flag to retry
    called = calls.read_text().split()
    assert sorted(set(called), key=int) == [str(i) for i in range(12)] and len(called) == 13
    assert called.count("6") == 2                                   # its first call never returned a label
    for name, text in before.items():                               # no label lost or rewritten
        assert (store / "job" / name).read_text() == text
    failed = {p.stem: p.read_text() for p in (store / "job").glob("*.failed")}
    assert sorted(failed) == ["00001", "00005", "00009"]
    assert failed["00001"].startswith("RuntimeError: oracle crashed on frame 1")
    assert (store / "oracle_calls.log").read_text().splitlines()[7:] == \
        ["job/6 retry", "job/7", "job/8", "job/9", "job/10", "job/11"]

    retry = subprocess.run(command + ["retry"], env=env, capture_output=True, text=True, timeout=120)
    assert retry.returncode == 0, retry.stderr[-2000:]
    assert retry.stdout.strip().splitlines()[-1] == "9 [1, 5, 9]"            # they fail again
    assert calls.read_text().split()[13:] == ["1", "5", "9"]       # only the failed keys were sent again
    log = (store / "oracle_calls.log").read_text().splitlines()
    assert log[13:] == ["job/1 retry", "job/5 retry", "job/9 retry"]
    assert len(list((store / "job").glob("*.extxyz"))) == 9 and not (store / "job" / "00006.failed").exists()



def test_retry_failed_names_the_stages_that_already_trained_without_their_failed_labels(tmp_path):
    """A failed label of a stage that has trained stays failed, and --retry-failed says so (naming the stage);
    a stage that has not trained yet gets its failed labels sent again when it runs (no line)."""
    from skmd.al.retries import retry_lines
    from skmd.al.run_dir import RunDir
    run = RunDir(tmp_path)
    store = LabelStore(run.labels, Oracle(Flaky))
    with pytest.warns(UserWarning, match="unless the stage that uses them has finished"):
        store.label("md/iter01", copper_frames([0.0, 0.7]))
    with pytest.warns(UserWarning):
        store.label("md/iter02", copper_frames([0.9, 0.0]))
    assert retry_lines(run, store, ["md"], 2) == []          # neither iteration has trained yet
    run.write_frames(run.data_file("md", 1, "train"), copper_frames([0.0]))
    lines = retry_lines(run, store, ["md"], 2)
    assert len(lines) == 1 and lines[0].startswith("--retry-failed: 1 failed label of md/iter01 stays failed")
    assert "new run directory" in lines[0] and store.failed("md/iter02") == {0: "RuntimeError: SCF did not converge at x = 0.90"}


class _Named:
    name = "md"


def _stages(tmp_path, calls, replace_failed=True):
    """IterationStages of one sampler whose iteration 1 has six candidates (shifts 0.0, 0.7, 0.1, 0.8, 0.2,
    0.3 Å: Flaky fails the 0.7 and 0.8 ones) and a selector that takes the candidates in order."""
    from skmd.al.iteration import IterationStages
    from skmd.al.run_dir import RunDir

    def in_order(candidates, n_select, context):
        calls.append(len(context.seen))
        return list(range(n_select))

    run = RunDir(tmp_path / "run")
    run.write_frames(run.iteration("md", 1) / "candidates.extxyz", copper_frames([0.0, 0.7, 0.1, 0.8, 0.2, 0.3]))
    for kind in ("train", "calibration"):
        run.write_frames(run.data_file("md", 0, kind), copper_frames([0.05]))
    config = CampaignConfig(structures="s.xyz", select=3, replace_failed=replace_failed)
    return IterationStages(run, config, [], LabelStore(run.labels, Oracle(Flaky)), in_order, None, log=lambda line: None)


def test_a_selected_frame_the_oracle_fails_on_is_replaced_by_the_next_pick(tmp_path):
    """select 3 of six candidates in order: 0.7 fails, so the next pick (0.8) replaces it, fails too, and
    0.2 replaces that; the selector sees the failed picks as taken. A rerun sends nothing again; without
    replace_failed the iteration keeps 2 labels."""
    calls = []
    stages = _stages(tmp_path, calls)
    with pytest.warns(UserWarning, match="failed"):
        prepared = stages.select_and_label(_Named(), 1)
    assert (prepared["n_selected"], prepared["n_labelled"], prepared["n_failed"], prepared["n_replacements"]) == (5, 3, 2, 2)
    selected = stages.run.read_frames(stages.run.iteration("md", 1) / "selected.extxyz")
    assert [f.info["skmd_candidate"] for f in selected] == [0, 1, 2, 3, 4]
    assert calls == [2, 2 + 3, 2 + 4]                        # earlier labels, then every pick so far as seen
    train = stages.run.read_frames(stages.run.data_file("md", 1, "train"))
    calibration = stages.run.read_frames(stages.run.data_file("md", 1, "calibration"))
    shifts = sorted(round(f.positions[0, 0], 2) for f in train + calibration)
    assert shifts == [0.0, 0.05, 0.05, 0.1, 0.2]             # the two earlier labels and the three new ones
    sent = sorted(p.name for p in (stages.run.labels / "md" / "iter01").glob("*"))
    with pytest.warns(UserWarning, match="failed"):
        again = stages.select_and_label(_Named(), 1)
    assert again == {**prepared, "label_s": again["label_s"]} and calls == [2, 5, 6]   # no new pick, no resend
    assert sorted(p.name for p in (stages.run.labels / "md" / "iter01").glob("*")) == sent
    calls = []
    plain = _stages(tmp_path / "off", calls, replace_failed=False)
    with pytest.warns(UserWarning, match="1 of 3 frames failed"):
        prepared = plain.select_and_label(_Named(), 1)
    assert (prepared["n_selected"], prepared["n_labelled"], prepared["n_failed"], prepared["n_replacements"]) == (3, 2, 1, 0)


def test_starting_copies_the_oracle_fails_on_are_replaced_by_the_next_copies(tmp_path):
    """10 starting copies of Cu with 0.5 Å displacements (Flaky fails where atom 0 moved past x = 0.5 Å):
    further copies of the same seeded sequence fill in until 10 are labelled; a rerun calls nothing."""
    from skmd.al.run_dir import RunDir
    from skmd.al.start import perturbed_copies
    from skmd.al.starting_stage import starting_labels
    run, structures = RunDir(tmp_path), copper_frames([0.0])
    config = CampaignConfig(structures="s.xyz", start_frames=10, perturb_A=0.5, test_fraction=0.2,
                            calibration_fraction=0.2)
    store = LabelStore(run.labels, Oracle(Flaky))
    with pytest.warns(UserWarning, match="failed"):
        parts = starting_labels(run, config, structures, store, log=lambda line: None)
    frames = run.read_frames(run.start_file("frames"))
    failed = store.failed("start")
    assert failed and len(frames) == 10 + len(failed) <= 20
    assert sum(len(p) for p in parts.values()) == 10
    first = perturbed_copies(structures, 10, 0.5, config.perturb_strain, config.seed)
    assert all(np.allclose(a.positions, b.positions, atol=1e-6) for a, b in zip(first, frames))   # same sequence, extended
    calls = store.oracle_calls
    run.start_file("train").unlink()                                              # resume before the split
    with pytest.warns(UserWarning, match="failed"):
        starting_labels(run, config, structures, LabelStore(run.labels, Oracle(Flaky)), log=lambda line: None)
    assert LabelStore(run.labels, Oracle(Flaky)).oracle_calls == calls

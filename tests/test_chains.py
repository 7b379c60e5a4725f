"""The campaign's scheduler (skmd.al.chains) running each sampler's iterations as a chain
(skmd.al.iteration.sampler_chains): at most ``workers`` jobs at once, resumable per sampler and iteration,
and the first failure stops every chain. The stages here only record what runs, so that what is tested is
the scheduling alone; the campaign's own test (test_al: the same seed gives the same training set and
models) runs the real stages through it.

Concurrency is asserted without relying on timing: a :class:`Gate` holds the first jobs of a kind until
as many as the limit allows run together (a correct scheduler lets them in at once), then keeps them a
moment longer so that a scheduler that lets one job too many in is caught while they run."""
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from skmd.al.chains import Slots, Stopped, run_chains
from skmd.al.iteration import sampler_chains
from skmd.al.run_dir import RunDir

#: how long a gate waits for the jobs the limit allows (a correct scheduler reaches it at once)
GATE_TIMEOUT_S = 10.0
#: how long the gated jobs stay together, for an extra job (a scheduler over its limit) to show itself
HOLD_S = 0.2


class Gate:
    """Holds the first ``expected`` jobs of a kind until ``expected`` of them run at once (or the timeout)."""

    def __init__(self, expected: int):
        self.expected, self.entered, self.together = expected, 0, threading.Event()

    def admit(self, running: int) -> bool:
        """Called under the stages' lock with the kind's running count: whether this job waits at the gate."""
        self.entered += 1
        if running >= self.expected:
            self.together.set()
        return self.entered <= self.expected

    def wait(self) -> None:
        if self.together.wait(GATE_TIMEOUT_S):
            time.sleep(HOLD_S)


class RecordedStages:
    """The stages a chain calls; records how many ran at once and what ran, in order."""

    def __init__(self, out: Path, iterations: int, fail=None, gates=None):
        self.config, self.run = SimpleNamespace(iterations=iterations), RunDir(out)
        self.fail, self.lock, self.done, self.started = fail, threading.Lock(), [], []
        self.gates = gates or {}
        self.running, self.most = {"job": 0, "train": 0}, {"job": 0, "train": 0, "all": 0}

    def _job(self, what: str, name: str, k: int, m: int = 0):
        kind = "train" if what == "train" else "job"
        with self.lock:
            self.running[kind] += 1
            self.most[kind] = max(self.most[kind], self.running[kind])
            self.most["all"] = max(self.most["all"], sum(self.running.values()))
            self.started.append((what, name, k, m))
            first = sum(1 for step in self.started if step[:3] == (what, name, k)) == 1
            gate = self.gates.get(kind)
            held = gate is not None and gate.admit(self.running[kind])
        try:
            if self.fail in ((what, name, k), (what, name, k, "first" if first else None)):
                raise RuntimeError(f"{name} iteration {k}: every walk diverged")
            if held:
                gate.wait()
            self.done.append((what, name, k) if kind == "job" else (what, name, k, m))
        finally:
            with self.lock:
                self.running[kind] -= 1

    def sample(self, sampler, k):
        self._job("sample", sampler.name, k)

    def select_and_label(self, sampler, k):
        self._job("label", sampler.name, k)
        return {}

    def train(self, sampler, k, m):
        self._job("train", sampler.name, k, m)
        return 1.0

    def score(self, sampler, k, test, prepared, train_s):
        self._job("score", sampler.name, k)
        self.run.iteration(sampler.name, k).mkdir(parents=True, exist_ok=True)
        self.run.metrics(sampler.name, k).write_text("{}")


SAMPLERS = [SimpleNamespace(name="md"), SimpleNamespace(name="udd", n_models=3), SimpleNamespace(name="skmd")]


def run(stages, samplers, workers, executor):
    slots = Slots.for_campaign(workers, executor)
    run_chains(sampler_chains(stages, samplers, [], slots), slots)


@pytest.mark.parametrize("workers", [1, 2])
def test_at_most_workers_jobs_run_at_once_and_every_stage_runs_once(tmp_path, workers):
    stages = RecordedStages(tmp_path, iterations=2, gates={"job": Gate(workers)})
    run(stages, SAMPLERS, workers, executor=object())
    assert stages.most["all"] == workers
    # per iteration: sample, label, score, and one training per model (UDD's committee: three)
    assert len(stages.done) == 2 * (3 * 3 + 1 + 3 + 1)
    for name in ("md", "udd", "skmd"):     # a chain's stages in order, iteration after iteration
        order = [(step[0], step[2]) for step in stages.done if step[1] == name and step[0] != "train"]
        assert order == [("sample", 1), ("label", 1), ("score", 1), ("sample", 2), ("label", 2), ("score", 2)]


def test_a_cluster_without_workers_runs_its_jobs_unlimited_and_one_training_at_a_time(tmp_path):
    stages = RecordedStages(tmp_path, iterations=2, gates={"job": Gate(3), "train": Gate(1)})
    run(stages, SAMPLERS, None, executor=object())
    assert stages.most["train"] == 1 and stages.most["job"] == 3     # the three chains' first walks together


def test_without_an_executor_one_job_runs_at_a_time(tmp_path):
    stages = RecordedStages(tmp_path, iterations=1, gates={"job": Gate(1), "train": Gate(1)})
    run(stages, SAMPLERS, None, executor=None)
    assert stages.most["all"] == 1


def test_a_finished_iteration_is_not_run_again(tmp_path):
    RunDir(tmp_path).iteration("md", 1).mkdir(parents=True)
    RunDir(tmp_path).metrics("md", 1).write_text("{}")
    stages = RecordedStages(tmp_path, iterations=2)
    run(stages, SAMPLERS[:1], 2, executor=object())
    assert {step[2] for step in stages.done} == {2}


def test_the_first_failure_is_raised_and_stops_every_chain(tmp_path):
    stages = RecordedStages(tmp_path, iterations=3, fail=("sample", "md", 1))
    with pytest.raises(RuntimeError, match="md iteration 1: every walk diverged"):
        run(stages, SAMPLERS, 1, executor=object())
    # no job starts once md failed (one slot: whichever chain got it first, md's failing walk started last)
    assert stages.started[-1][:3] == ("sample", "md", 1)
    assert not any(step[:3] == ("sample", "md", 2) for step in stages.started)


def test_a_failed_committee_member_stops_the_members_not_yet_started(tmp_path):
    stages = RecordedStages(tmp_path, iterations=1, fail=("train", "udd", 1, "first"))
    with pytest.raises(RuntimeError, match="udd iteration 1"):
        run(stages, SAMPLERS[1:2], 2, executor=object())
    # two slots: the member that started first failed at once, so the third member never started
    assert sum(1 for step in stages.started if step[0] == "train") <= 2
    assert not any(step[0] == "score" for step in stages.started)


def test_a_stopped_slot_starts_no_job():
    slots = Slots(2, 2)
    with slots.job():
        pass
    slots.stop()
    with pytest.raises(Stopped):
        with slots.training():
            pass

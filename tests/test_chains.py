"""The campaign's scheduler (skmd.al.chains): each sampler's iterations as a chain, at most ``workers`` jobs at
once, resumable per sampler and iteration, and the first failure stops every chain. The stages here sleep
instead of sampling or training, so that what is tested is the scheduling alone; the campaign's own test
(test_al: the same seed gives the same training set and models) runs the real stages through it."""
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from skmd.al.chains import Slots, Stopped, run_chains


class TimedStages:
    """The stages a chain calls, each a short sleep; records how many ran at once and what ran."""

    def __init__(self, out: Path, iterations: int, fail=None):
        self.config = SimpleNamespace(iterations=iterations)
        self.campaign = SimpleNamespace(folder=lambda name, k: out / name / f"iter{k:02d}")
        self.fail, self.lock, self.done, self.started = fail, threading.Lock(), [], []
        self.running, self.most = {"job": 0, "train": 0}, {"job": 0, "train": 0, "all": 0}

    def _job(self, what: str, name: str, k: int, m: int = 0):
        kind = "train" if what == "train" else "job"
        with self.lock:
            self.running[kind] += 1
            self.most[kind] = max(self.most[kind], self.running[kind])
            self.most["all"] = max(self.most["all"], sum(self.running.values()))
            self.started.append((what, name, k, m))
            first = sum(1 for step in self.started if step[:3] == (what, name, k)) == 1
        try:
            if self.fail in ((what, name, k), (what, name, k, "first" if first else None)):
                raise RuntimeError(f"{name} iteration {k}: every walk diverged")
            time.sleep(0.03 if kind == "train" else 0.02)
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
        folder = self.campaign.folder(sampler.name, k)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "metrics.json").write_text("{}")


SAMPLERS = [SimpleNamespace(name="md"), SimpleNamespace(name="udd", n_models=3), SimpleNamespace(name="skmd")]


@pytest.mark.parametrize("workers", [1, 2])
def test_at_most_workers_jobs_run_at_once_and_every_stage_runs_once(tmp_path, workers):
    stages = TimedStages(tmp_path, iterations=2)
    run_chains(stages, SAMPLERS, [], Slots.for_campaign(workers, executor=object()))
    assert stages.most["all"] == workers
    # per iteration: sample, label, score, and one training per model (UDD's committee: three)
    assert len(stages.done) == 2 * (3 * 3 + 1 + 3 + 1)
    for name in ("md", "udd", "skmd"):     # a chain's stages in order, iteration after iteration
        order = [(step[0], step[2]) for step in stages.done if step[1] == name and step[0] != "train"]
        assert order == [("sample", 1), ("label", 1), ("score", 1), ("sample", 2), ("label", 2), ("score", 2)]


def test_a_cluster_without_workers_runs_its_jobs_unlimited_and_one_training_at_a_time(tmp_path):
    stages = TimedStages(tmp_path, iterations=2)
    run_chains(stages, SAMPLERS, [], Slots.for_campaign(None, executor=object()))
    assert stages.most["train"] == 1 and stages.most["job"] >= 2


def test_without_an_executor_one_job_runs_at_a_time(tmp_path):
    stages = TimedStages(tmp_path, iterations=1)
    run_chains(stages, SAMPLERS, [], Slots.for_campaign(None, executor=None))
    assert stages.most["all"] == 1


def test_a_finished_iteration_is_not_run_again(tmp_path):
    (tmp_path / "md" / "iter01").mkdir(parents=True)
    (tmp_path / "md" / "iter01" / "metrics.json").write_text("{}")
    stages = TimedStages(tmp_path, iterations=2)
    run_chains(stages, SAMPLERS[:1], [], Slots.for_campaign(2, executor=object()))
    assert {step[2] for step in stages.done} == {2}


def test_the_first_failure_is_raised_and_stops_every_chain(tmp_path):
    stages = TimedStages(tmp_path, iterations=3, fail=("sample", "md", 1))
    with pytest.raises(RuntimeError, match="md iteration 1: every walk diverged"):
        run_chains(stages, SAMPLERS, [], Slots.for_campaign(1, executor=object()))
    # no job starts once md failed: nothing reached iteration 2
    assert all(step[2] == 1 for step in stages.done)
    assert not (tmp_path / "udd" / "iter02").exists()


def test_a_failed_committee_member_stops_the_members_not_yet_started(tmp_path):
    stages = TimedStages(tmp_path, iterations=1, fail=("train", "udd", 1, "first"))
    with pytest.raises(RuntimeError, match="udd iteration 1"):
        run_chains(stages, SAMPLERS[1:2], [], Slots.for_campaign(2, executor=object()))
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

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
        self.fail, self.lock, self.running, self.most, self.done = fail, threading.Lock(), 0, 0, []

    def _job(self, what: str, name: str, k: int):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            if self.fail == (what, name, k):
                raise RuntimeError(f"{name} iteration {k}: every walk diverged")
            time.sleep(0.02)
            self.done.append((what, name, k))
        finally:
            with self.lock:
                self.running -= 1

    def sample(self, sampler, k):
        self._job("sample", sampler.name, k)

    def select_and_label(self, sampler, k):
        self._job("label", sampler.name, k)
        return {}

    def train(self, sampler, k, m):
        self._job("train", sampler.name, k)
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
    run_chains(stages, SAMPLERS, [], workers)
    assert stages.most == workers
    # per iteration: sample, label, score, and one training per model (UDD's committee: three)
    assert len(stages.done) == 2 * (3 * 3 + 1 + 3 + 1)
    for name in ("md", "udd", "skmd"):     # a chain's stages in order, iteration after iteration
        order = [(what, k) for what, n, k in stages.done if n == name and what != "train"]
        assert order == [("sample", 1), ("label", 1), ("score", 1), ("sample", 2), ("label", 2), ("score", 2)]


def test_a_finished_iteration_is_not_run_again(tmp_path):
    (tmp_path / "md" / "iter01").mkdir(parents=True)
    (tmp_path / "md" / "iter01" / "metrics.json").write_text("{}")
    stages = TimedStages(tmp_path, iterations=2)
    run_chains(stages, SAMPLERS[:1], [], 2)
    assert {k for _, _, k in stages.done} == {2}


def test_the_first_failure_is_raised_and_stops_every_chain(tmp_path):
    stages = TimedStages(tmp_path, iterations=3, fail=("sample", "md", 1))
    with pytest.raises(RuntimeError, match="md iteration 1: every walk diverged"):
        run_chains(stages, SAMPLERS, [], 1)
    # one job at a time: at most the job under way when md failed finished after it; nothing reached iteration 2
    assert all(k == 1 for _, _, k in stages.done)
    assert not (tmp_path / "udd" / "iter02").exists()


def test_a_stopped_slot_starts_no_job():
    slots = Slots(2)
    with slots.job():
        pass
    slots.stop()
    with pytest.raises(Stopped):
        with slots.job():
            pass

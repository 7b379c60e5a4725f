"""Scale-out: samplers and labels as tasks on process pools and Dask, with dead workers retried."""
import multiprocessing
import os
import signal
import uuid
from concurrent.futures import CancelledError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pytest

from skmd.atoms.tasks import run_tasks, worker_died


def _die_once(marker, value):
    """Twice ``value``; the first call anywhere (no marker file yet) kills its own process."""
    marker = Path(marker)
    if not marker.exists():
        marker.write_text("died once\n")
        os.kill(os.getpid(), signal.SIGKILL)
    return 2 * value


def _fail_and_count(log, value):
    with open(log, "a") as handle:
        handle.write(f"{value}\n")
    raise ValueError(f"bad value {value}")


class KillOnce:
    """A calculator factory whose first call (across processes) kills the worker running it."""

    def __init__(self, marker, factory):
        self.marker, self.factory = str(marker), factory

    def __call__(self):
        _die_once(self.marker, 0)
        return self.factory()


class CountingEMT:
    """An EMT oracle factory that records every calculation as a file in ``calls`` (picklable)."""

    def __init__(self, calls, kill_marker=None):
        self.calls, self.kill_marker = str(calls), kill_marker

    def __call__(self):
        from ase.calculators.emt import EMT

        calls, kill_marker = Path(self.calls), self.kill_marker

        class Counting(EMT):
            def calculate(self, *args, **kwargs):
                (calls / uuid.uuid4().hex).write_text(f"{os.getpid()}\n")
                if kill_marker is not None:
                    _die_once(kill_marker, 0)
                super().calculate(*args, **kwargs)

        return Counting()


def test_worker_death_is_told_apart_from_errors_of_the_task():
    distributed = pytest.importorskip("distributed")
    assert worker_died(BrokenProcessPool("gone")) and worker_died(CancelledError())
    assert worker_died(distributed.KilledWorker("task", "worker", 0))
    assert not worker_died(ValueError("bad input")) and not worker_died(RuntimeError("SCF"))


@pytest.mark.slow
def test_a_pool_shared_by_threads_is_replaced_once_when_a_worker_dies(tmp_path):
    """The campaign's chains share one pool: a dead worker gives one replacement, used by every later job
    (the oracle's direct submits included), not one fresh pool per call."""
    from skmd.tools.pool import SelfHealingPool, process_pool, thread_map
    pool = SelfHealingPool(process_pool(2))
    try:
        marker = tmp_path / "marker"
        results = thread_map(lambda values: run_tasks(_die_once, [(marker, v) for v in values], executor=pool),
                             [range(3), range(3, 6)], 2)
        assert results == [[0, 2, 4], [6, 8, 10]]
        assert len(pool.retired) == 1 and not pool.pool._broken
        assert pool.submit(_die_once, marker, 7).result() == 14
    finally:
        pool.shutdown()

@pytest.mark.slow
def test_a_task_that_kills_its_process_is_rerun_on_a_fresh_pool(tmp_path):
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        results = run_tasks(_die_once, [(tmp_path / "marker", value) for value in range(4)], executor=pool)
        assert pool._broken    # the caller's pool died with the worker; the retries ran on a fresh one
    assert results == [0, 2, 4, 6]
    log = tmp_path / "calls.log"
    with ProcessPoolExecutor(1, mp_context=context) as pool, pytest.raises(ValueError, match="bad value 3"):
        run_tasks(_fail_and_count, [(log, 3)], executor=pool, retries=2)
    assert log.read_text().splitlines() == ["3"]       # an ordinary error is not retried
    with pytest.raises(ValueError, match="retries"):
        run_tasks(_die_once, [], executor=None, retries=-1)


def _specs():
    from skmd.atoms import Brownian, GaussianKernel, Langevin, Stein
    from skmd.atoms.parallel import SamplerSpec

    return [SamplerSpec("skmd", "round_robin", Brownian(300.0, 0.2), n_moves=3, steps=4,
                        bias=Stein(GaussianKernel(2.0, "median"), 300.0), seed=7),
            SamplerSpec("md", "independent", Langevin(300.0, 0.5), n_moves=3, steps=4, seed=7)]


def _ensemble():
    from ase.build import molecule

    rng = np.random.default_rng(2)
    frames = []
    for _ in range(3):
        frame = molecule("CH3CH2OH")
        frame.positions += 0.03 * rng.standard_normal(frame.positions.shape)
        frames.append(frame)
    return frames


@pytest.mark.slow
def test_samplers_give_the_same_candidates_serially_and_on_dask_with_a_killed_worker(tmp_path):
    pytest.importorskip("mace")
    distributed = pytest.importorskip("distributed")
    import dask

    from skmd.atoms import build_mace, save_mace
    from skmd.atoms.parallel import MACEFactory, run_samplers

    model_path = tmp_path / "model.safetensors"
    save_mace(build_mace(channels=8, seed=1), model_path)
    factory = MACEFactory(str(model_path))
    serial = run_samplers(_specs(), _ensemble(), factory)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        on_dask = run_samplers(_specs(), _ensemble(), KillOnce(tmp_path / "marker", factory),
                               executor=client.get_executor())
    assert (tmp_path / "marker").exists()      # one worker died, and its task was run again
    for name in ("skmd", "md"):
        assert len(serial[name]["candidates"]) == len(on_dask[name]["candidates"]) == 3
        for a, b in zip(serial[name]["candidates"], on_dask[name]["candidates"]):
            np.testing.assert_array_equal(a.positions, b.positions)
            assert a.info == b.info
    assert serial["skmd"]["kernel_history"] == on_dask["skmd"]["kernel_history"]
    again = run_samplers(_specs()[:1], _ensemble(), factory)      # the serial path does not mutate the spec
    assert again["skmd"]["kernel_history"] == serial["skmd"]["kernel_history"]


@pytest.mark.slow
def test_labelling_on_dask_never_sends_a_key_twice(tmp_path):
    distributed = pytest.importorskip("distributed")
    import dask
    from ase.build import molecule

    from skmd.atoms import LabelStore, Oracle

    frames = []
    for shift in np.linspace(0.0, 0.2, 5):
        frame = molecule("CH3CH2OH")
        frame.positions[0] += shift
        frames.append(frame)
    calls = tmp_path / "calls"
    calls.mkdir()
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        oracle = Oracle(CountingEMT(calls, kill_marker=tmp_path / "marker"), executor=client.get_executor())
        labelled, failures = LabelStore(tmp_path / "store", oracle, batch_size=2).label("job", frames)
        again = LabelStore(tmp_path / "store", oracle, batch_size=2).label("job", frames)
    keys = LabelStore(tmp_path / "store", oracle).sent_keys()
    assert sorted(keys) == [f"job/{i}" for i in range(5)]          # every key sent exactly once
    assert len(list(calls.iterdir())) == 5                          # and the oracle ran once per key
    [(dead, reason)] = failures.items()                             # the frame whose worker died is not resent
    assert dead in (0, 1) and "KilledWorker" in reason
    assert len(labelled) == 4 and again[1] == failures
    serial = Oracle(CountingEMT(tmp_path)).label([frame for i, frame in enumerate(frames) if i != dead])
    for a, b in zip(labelled, serial.labelled):
        assert a.info["REF_energy"] == pytest.approx(b.info["REF_energy"], abs=1e-12)

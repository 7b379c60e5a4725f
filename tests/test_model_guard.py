"""Building, copying or unpickling a model on one thread while another thread runs a model (a campaign's
chains do both side by side): torch.fx patches ``Module.__call__`` for the whole process while it traces, so
without skmd.atoms.model_guard the running model fails with "module is not installed as a submodule"."""
import threading
import time

import pytest

pytest.importorskip("mace")

from ase.build import molecule  # noqa: E402

from skmd.atoms.descriptors import MACEDescriptor  # noqa: E402
from skmd.atoms.mace_models import build_mace  # noqa: E402
from skmd.atoms.model_files import load_model, save_model, write_training_pickle  # noqa: E402
from skmd.atoms.model_guard import SharedExclusiveLock  # noqa: E402


def test_models_run_on_one_thread_while_another_unpickles_builds_and_copies_them(tmp_path):
    model = build_mace(channels=8, max_L=1, seed=0)
    pickle = write_training_pickle(save_model(model, tmp_path / "m.safetensors"), tmp_path / "m.model")
    descriptor, atoms = MACEDescriptor(model), molecule("CH4")
    expected = descriptor.evaluate(atoms)["energy"]
    errors, calls, stop = [], [0], threading.Event()

    def run():
        while not stop.is_set():
            try:
                assert descriptor.evaluate(atoms)["energy"] == expected
                calls[0] += 1
            except Exception as error:  # noqa: BLE001  (recorded, the test fails on it below)
                errors.append(repr(error))
                return

    runner = threading.Thread(target=run)
    runner.start()
    try:
        for _ in range(15):
            load_model(pickle, trusted=True)             # torch.load re-traces e3nn's fx modules
        build_mace(channels=8, max_L=1, seed=1)          # mace traces its symmetric contractions
        load_model(tmp_path / "m.safetensors")
    finally:
        stop.set()
        runner.join(timeout=60)
    assert not errors, errors[0]
    assert calls[0] > 0                                  # the model did run beside the builds


def test_the_guard_shares_runs_excludes_builds_and_nests_per_thread():
    guard, order = SharedExclusiveLock(), []
    with guard.shared(), guard.shared():                 # two runs at once (here nested) are fine
        blocked = threading.Thread(target=lambda: (guard.exclusive().__enter__(), order.append("built")))
        blocked.start()
        time.sleep(0.2)
        assert order == []                               # the build waits for the runs to end
        order.append("ran")
        with pytest.raises(RuntimeError, match="inside a model call"):
            with guard.exclusive():
                pass
    blocked.join(timeout=10)
    assert order == ["ran", "built"]
    guard = SharedExclusiveLock()
    with guard.exclusive(), guard.exclusive(), guard.shared():   # a build may nest, and run a model itself
        pass
    with guard.shared():                                 # and the guard is free again
        pass

"""``--threads`` and ``--device`` reach every task and every training, and a serial task leaves the
process's own thread settings alone (skmd.tools.threads, skmd.tools.device)."""
import os

import numpy as np
import pytest

from skmd.tools.device import DEVICES, check_device, resolve_device
from skmd.tools.threads import ENV_VARIABLES

torch = pytest.importorskip("torch")
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present here")


@pytest.fixture
def two_threads(monkeypatch):
    """This process on 2 torch threads and OMP/MKL/OpenBLAS=2, as ``skmd --threads 2`` sets it; restored after."""
    before = torch.get_num_threads()
    for name in ENV_VARIABLES:
        monkeypatch.setenv(name, "2")
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


class ThreadsSeen:
    """An EMT calculator factory that records torch's thread count where the task builds its calculator."""

    def __init__(self):
        self.seen = []

    def __call__(self):
        from ase.calculators.emt import EMT
        self.seen.append(torch.get_num_threads())
        return EMT()


def _copper(n, seed=0, labelled=False):
    from ase.build import bulk
    from ase.calculators.emt import EMT

    from skmd.tools.labels import ENERGY_KEY, FORCES_KEY
    frames = []
    for k in range(n):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
        atoms.rattle(0.05, seed=seed + k)
        if labelled:
            atoms.calc = EMT()
            atoms.info[ENERGY_KEY], atoms.arrays[FORCES_KEY] = atoms.get_potential_energy(), atoms.get_forces()
            atoms.calc = None
        frames.append(atoms)
    return frames


def _process_threads():
    return torch.get_num_threads(), {name: os.environ.get(name) for name in ENV_VARIABLES}


def test_a_serial_sampler_runs_on_its_threads_and_leaves_the_process_alone(two_threads):
    from skmd.atoms import Langevin
    from skmd.atoms.parallel import SamplerSpec, run_samplers
    factory = ThreadsSeen()
    spec = SamplerSpec("md", "independent", Langevin(300.0, 1.0), n_moves=2, steps=2, seed=0)
    run_samplers([spec], _copper(2), factory, threads=1)      # executor None: in this process
    assert factory.seen == [1]                                 # the task ran on its own thread count
    assert _process_threads() == (2, {name: "2" for name in ENV_VARIABLES})   # and restored the process's


def test_a_serial_scoring_leaves_the_process_alone(two_threads, tmp_path):
    pytest.importorskip("mace")
    from skmd.atoms import build_mace, save_mace
    from skmd.atoms.scoring import score_model_file
    path = save_mace(build_mace(channels=4, max_L=0, num_interactions=1, atomic_numbers=[29],
                                atomic_energies=[-0.1]), tmp_path / "cu.safetensors")
    scores = score_model_file(path, _copper(2, labelled=True), threads=1, device="cpu")
    assert np.isfinite(scores["force_rmse_meV_A"])
    assert _process_threads() == (2, {name: "2" for name in ENV_VARIABLES})


def test_a_training_process_gets_the_campaigns_threads_in_its_own_environment(tmp_path, monkeypatch):
    from skmd.atoms import training, training_process
    seen = {}

    def fake_run(args, log_path, cwd, env):
        seen.update(env=env, cwd=cwd)
        (tmp_path / "m.model").write_text("")
        return 0

    monkeypatch.setattr(training_process._WARM_PROCESS, "run", fake_run)
    before = dict(os.environ)
    assert training.run_mace_train(["--name=m"], tmp_path, "m", threads=2) == tmp_path / "m.model"
    assert {name: seen["env"][name] for name in ENV_VARIABLES} == {name: "2" for name in ENV_VARIABLES}
    assert seen["cwd"] == tmp_path
    assert dict(os.environ) == before                        # this process's environment is not touched


def test_a_cuda_training_starts_a_fresh_process_and_a_cpu_one_forks_from_the_warm_one(tmp_path, monkeypatch):
    """CUDA cannot follow a fork: the device the trainer was given (not a guess from the flags) picks the path."""
    from skmd.atoms import training, training_process
    taken = []

    def path(kind):
        def run(args, log_path, cwd, env):
            taken.append(kind)
            (tmp_path / "m.model").write_text("")
            return 0
        return run

    monkeypatch.setattr(training_process._WARM_PROCESS, "run", path("warm"))
    monkeypatch.setattr(training_process, "run_fresh", path("fresh"))
    training.run_mace_train(["--name=m"], tmp_path, "m", device="cpu")
    training.run_mace_train(["--name=m"], tmp_path, "m", device="cuda")
    assert taken == ["warm", "fresh"]


@pytest.mark.slow
def test_mace_run_train_reports_the_threads_it_trains_on(tmp_path):
    """The real subprocess (``--help``: mace starts and exits before training) says it runs on 2 threads."""
    pytest.importorskip("mace")
    from skmd.atoms import training
    with pytest.raises(RuntimeError, match="wrote no m.model"):
        training.run_mace_train(["--help"], tmp_path, "m", threads=2)
    assert "skmd: mace_run_train on 2 torch threads (OMP_NUM_THREADS=2)" in (tmp_path / "m.stdout").read_text()


def _config(tmp_path, **settings):
    from skmd.al.config import make_config
    return make_config({"structures": str(tmp_path / "s.xyz"), "out": str(tmp_path / "out"), **settings})


def test_the_campaigns_threads_and_device_reach_its_trainer(tmp_path, monkeypatch):
    from skmd.al.training import builtin_trainer
    from skmd.atoms import training
    seen = {}

    def capture(args, work_dir, name, threads=1, device="cpu"):
        seen.update(args=list(args), threads=threads, device=device)
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "run_mace_train", capture)
    from skmd.atoms.oracle import write_extxyz
    trainer = builtin_trainer(_config(tmp_path, threads=2, finetune="scratch"), {29: -0.1})
    write_extxyz(tmp_path / "train.extxyz", _copper(20, labelled=True))
    with pytest.raises(KeyboardInterrupt):
        trainer(None, tmp_path / "train.extxyz", tmp_path / "work", seed=0)
    assert seen["threads"] == 2 and trainer.device == seen["device"] == "cpu"
    assert [a for a in seen["args"] if a.startswith("--device")] == ["--device=cpu"]
    assert "--save_cpu" in seen["args"] and set(training.END_PHASE_ARGS) <= set(seen["args"])


def test_devices_resolve_here_and_cuda_is_refused_in_one_line_without_it():
    assert DEVICES == ("auto", "cpu", "cuda") and resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match=r"^device must be one of auto, cpu, cuda, got 'gpu'$"):
        check_device("gpu")
    if torch.cuda.is_available():
        assert resolve_device("auto") == "cuda"
        return
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ValueError, match="torch sees no CUDA device") as error:
        resolve_device("cuda")
    assert "\n" not in str(error.value)


@NO_CUDA
def test_a_campaign_on_cuda_is_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="device cuda: torch sees no CUDA device"):
        _config(tmp_path, device="cuda")


def test_the_device_reaches_the_factories_and_ubmd_stays_on_the_cpu(tmp_path):
    from skmd.al.samplers import MD, SKMD, UBMD, UDD, Context
    from skmd.atoms.parallel import MACEFactory
    from skmd.uncertainty.factory import UBMDFactory
    context = Context(("a.safetensors", "b.safetensors", "c.safetensors"), "t.extxyz", "c.extxyz", None, 0, "cpu")
    assert MD().factory(context).device == SKMD().factory(context).device == UDD().factory(context).device == "cpu"
    cuda = Context(("a.safetensors",), "t.extxyz", "c.extxyz", None, 0, "cuda")
    assert UBMD().factory(cuda).device == "cpu"              # UB-MD samples on the CPU, whatever the campaign's device
    with pytest.raises(ValueError, match="UB-MD runs on the CPU only"):
        UBMDFactory("a", "t", "c", device="cuda")
    with pytest.raises(ValueError, match="device must be one of"):
        MACEFactory("a", device="gpu")


def test_threads_and_device_from_yaml_and_flags(tmp_path, monkeypatch):
    from skmd.cli import al
    from skmd.cli.main import main
    config_file = tmp_path / "campaign.yaml"
    config_file.write_text(f"structures: {tmp_path / 's.xyz'}\nthreads: 3\ndevice: cpu\n")
    seen = []
    monkeypatch.setattr(al, "run", lambda args: seen.append(al.config_from_args(args)) or 0)
    for name in ENV_VARIABLES:                                   # main sets this process's threads
        monkeypatch.setenv(name, os.environ.get(name, "1"))
    before = torch.get_num_threads()
    try:
        assert main(["al", "--config", str(config_file), "--out", str(tmp_path / "out")]) == 0
        assert main(["al", "--config", str(config_file), "--out", str(tmp_path / "out"), "--threads", "2",
                     "--device", "auto"]) == 0
    finally:
        torch.set_num_threads(before)
    assert (seen[0].threads, seen[0].device) == (3, "cpu")     # the file's
    assert (seen[1].threads, seen[1].device) == (2, "auto")    # the flags win
    assert _config(tmp_path).threads is None and _config(tmp_path).device == "auto"
    with pytest.raises(ValueError, match="threads must be"):
        _config(tmp_path, threads=0)


def test_a_campaigns_default_threads_share_the_cores_among_its_jobs(monkeypatch):
    """No --threads and no $SKMD_THREADS: a serial campaign uses every core, --workers W shares them."""
    from concurrent.futures import ProcessPoolExecutor

    from skmd.al.campaign import jobs_at_once
    from skmd.tools import threads
    from skmd.tools.pool import SelfHealingPool
    monkeypatch.delenv("SKMD_THREADS", raising=False)
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    assert threads.threads_per_job(None, jobs_at_once(None)) == 8
    with ProcessPoolExecutor(2) as pool:
        assert threads.threads_per_job(None, jobs_at_once(SelfHealingPool(pool))) == 4
    assert threads.threads_per_job(None, 16) == 1
    assert threads.threads_per_job(3, 4) == 3                    # given: as given
    monkeypatch.setenv("SKMD_THREADS", "2")
    assert threads.threads_per_job(None, 1) == 2                 # the environment's setting

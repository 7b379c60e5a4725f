"""benchmarks/h2h_state.py: a head-to-head seed's run directory saved into git keeps every label and metric and
the models a resumed seed reads, drops the rest, and comes back only where no run directory exists."""
import sys
from pathlib import Path

import pytest

from skmd.al.controls import _folder as control_folder
from skmd.al.run_dir import RunDir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from h2h_state import kept_files, restore_state, save_state  # noqa: E402


def touch(path: Path, text: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def seed_in_progress(root: Path) -> RunDir:
    """A run directory as a seed leaves it mid-way: md300 through iteration 3, skmd through 1 with iteration 2
    trained but not scored, the ideal-data control through 2, one training-noise control done, one not."""
    run = RunDir(root)
    touch(run.root / "config.json", "{}")
    touch(run.starting_models(1)[0])
    touch(run.initial_score, "{}")
    touch(run.labels / "md300" / "iter01" / "job.json", "{}")
    for sampler, finished, trained in (("md300", 3, 3), ("skmd", 1, 2)):
        for k in range(1, trained + 1):
            touch(run.models(sampler, k, 1)[0])
            touch(run.data_file(sampler, k, "train"))
            touch(run.iteration(sampler, k) / "training" / "checkpoint.pt")     # mace's working files
            if k <= finished:
                touch(run.metrics(sampler, k), "{}")
    for k in (1, 2):
        touch(control_folder(run, "ideal", k) / "model.safetensors")
        touch(control_folder(run, "ideal", k) / "metrics.json", "{}")
    for name, done in (("md300-seed1", True), ("skmd-seed1", False)):
        touch(run.root / "controls" / name / "model.safetensors")
        if done:
            touch(run.root / "controls" / name / "metrics.json", "{}")
    return run


def test_an_unfinished_seed_keeps_every_label_and_the_models_a_resume_reads(tmp_path):
    run = seed_in_progress(tmp_path / "seed0")
    kept = {str(p) for p in kept_files(run.root, finished=False)}
    models = {p for p in kept if p.endswith(".safetensors")}
    assert models == {"model0/model.safetensors",
                      "samplers/md300/iter02/model0.safetensors", "samplers/md300/iter03/model0.safetensors",
                      "samplers/skmd/iter01/model0.safetensors", "samplers/skmd/iter02/model0.safetensors",
                      "controls/ideal/iter01/model.safetensors", "controls/ideal/iter02/model.safetensors",
                      "controls/skmd-seed1/model.safetensors"}
    assert "samplers/md300/iter01/train.extxyz" in kept and "labels/md300/iter01/job.json" in kept
    assert {"samplers/md300/iter01/metrics.json", "model0/score.json"} <= kept
    assert not any("training/" in p for p in kept)


def test_a_finished_seed_keeps_only_the_final_sampler_models(tmp_path):
    run = seed_in_progress(tmp_path / "seed0")
    models = {str(p) for p in kept_files(run.root, finished=True) if p.suffix == ".safetensors"}
    assert models == {"samplers/md300/iter03/model0.safetensors", "samplers/skmd/iter02/model0.safetensors"}


def test_a_saved_seed_comes_back_only_where_no_run_directory_exists(tmp_path):
    run = seed_in_progress(tmp_path / "work" / "seed0")
    state = tmp_path / "state" / "seed0"
    save_state(run.root, state, finished=False)
    save_state(run.root, state, finished=False)            # saving again replaces the state
    assert not (state / "samplers" / "md300" / "iter01" / "model0.safetensors").exists()
    assert (state / "samplers" / "md300" / "iter03" / "model0.safetensors").read_text() == "x"
    assert not restore_state(run.root, state)              # a run directory exists: left as it is
    fresh = tmp_path / "elsewhere" / "seed0"
    assert restore_state(fresh, state)
    files = lambda root: sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())  # noqa: E731
    assert files(fresh) == files(state) and (fresh / "model0" / "model.safetensors").is_file()
    assert not restore_state(tmp_path / "other", tmp_path / "no-state")
    # saving a seed this session never ran is refused, and the saved state stays
    with pytest.raises(ValueError, match="holds no run"):
        save_state(tmp_path / "work" / "seed7", state, finished=False)
    assert (state / "samplers" / "md300" / "iter03" / "model0.safetensors").exists()
    # a second save replaces the state: a model no longer kept is gone, no .partial or .old is left
    touch(run.metrics("skmd", 2), "{}")
    touch(run.models("skmd", 3, 1)[0])
    touch(run.metrics("skmd", 3), "{}")
    save_state(run.root, state, finished=False)
    assert not (state / "samplers" / "skmd" / "iter01" / "model0.safetensors").exists()
    assert (state / "samplers" / "skmd" / "iter03" / "model0.safetensors").exists()
    assert sorted(p.name for p in state.parent.iterdir()) == ["seed0"]

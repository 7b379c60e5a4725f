"""The run directory's layout (a campaign made by an earlier skmd must resume) and how trained models land in it."""
from skmd.al.run_dir import START_KEY, RunDir, label_key
from skmd.al.training import kept


def test_the_layout_is_the_one_earlier_campaigns_wrote(tmp_path):
    run = RunDir(tmp_path)
    relative = lambda path: path.relative_to(tmp_path).as_posix()  # noqa: E731
    assert [relative(p) for p in (run.labels, run.runs, run.results, run.report, run.training_set, run.test_set)] == [
        "labels", "runs.json", "results.json", "report.md", "training_set.extxyz", "test_set.extxyz"]
    assert [relative(p) for p in (run.start_file("train"), run.split, run.e0s, run.start_timing, run.initial_score)] == [
        "start/train.extxyz", "start/split.json", "start/e0s.json", "start/timing.json", "model0/score.json"]
    assert [relative(p) for p in run.models("md", 0, 2)] == ["model0/model.safetensors", "model0/member1.safetensors"]
    assert [relative(p) for p in run.models("udd", 3, 2)] == ["samplers/udd/iter03/model0.safetensors",
                                                               "samplers/udd/iter03/model1.safetensors"]
    assert relative(run.data_file("md", 0, "calibration")) == "start/calibration.extxyz"
    assert relative(run.metrics("md", 2)) == "samplers/md/iter02/metrics.json"
    assert relative(run.sampling("md", 2)) == "samplers/md/iter02/sampling.json"
    assert (label_key("md", 2), START_KEY) == ("md/iter02", "start")


def test_a_model_trained_in_the_run_is_moved_and_one_from_elsewhere_copied(tmp_path):
    own = tmp_path / "run" / "iter01" / "training0" / "model.safetensors"
    own.parent.mkdir(parents=True)
    own.write_bytes(b"weights")
    final = kept(own, tmp_path / "run" / "iter01" / "model0.safetensors")
    assert final.read_bytes() == b"weights" and not own.exists()          # one copy on disk
    users = tmp_path / "elsewhere" / "mine.safetensors"
    users.parent.mkdir()
    users.write_bytes(b"theirs")
    assert kept(users, tmp_path / "run" / "iter02" / "model0.safetensors").read_bytes() == b"theirs"
    assert users.read_bytes() == b"theirs"                               # a user's file stays where it is

"""A model file is read safely unless the user trusted it (docs/model-files.md).

Malicious files of several kinds (a classic ``__reduce__`` payload, payloads through torch.fx's
code-executing unpickling helpers, a genuine MACE model carrying such an object) go through every
path of the package that reads a model; none runs its payload unless the user trusted the file,
and the trusted path shows that each payload is live. Trusted pickles and skmd's safe files
predict the original model's energies.
"""
import contextlib
import copy
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mace")
pytest.importorskip("safetensors")

import torch  # noqa: E402  (after mace, through skmd.atoms)
from torch.fx import graph_module  # noqa: E402

from skmd.atoms import model_files  # noqa: E402
from skmd.atoms.alanine import alanine_dipeptide, rattled_ensemble  # noqa: E402
from skmd.atoms.calculator import MACEDescriptorCalculator  # noqa: E402
from skmd.atoms.mace_models import build_mace, load_mace, save_mace  # noqa: E402
from skmd.atoms.model_files import UntrustedModelError, is_safe_model  # noqa: E402

KINDS = ("reduce", "fx_forward_from_src", "fx_reduce_graph_module", "mace_with_fx_payload", "legacy_pickle",
         "pickle_named_safetensors")


class Payload:
    """Unpickles as ``function(*arguments)``: what a hostile file does on load."""

    def __init__(self, function, *arguments):
        self.function, self.arguments = function, arguments

    def __reduce__(self):
        return self.function, self.arguments


def _payload(kind: str, marker: Path):
    code = f"open({str(marker)!r}, 'w').write('ran')\n"
    if kind == "fx_forward_from_src":
        return Payload(graph_module._forward_from_src, code + "def forward(self):\n    pass\n", {})
    if kind in ("fx_reduce_graph_module", "mace_with_fx_payload"):
        return Payload(graph_module.reduce_graph_module, {"code": "def forward(self):\n    pass\n"}, code)
    return Payload(exec, code)


def malicious_file(kind: str, folder: Path, genuine) -> tuple[Path, Path]:
    """(the hostile file, the marker file its payload writes)."""
    marker = folder / f"{kind}.ran"
    path = folder / (f"{kind}.safetensors" if kind == "pickle_named_safetensors" else f"{kind}.model")
    obj = _payload(kind, marker)
    if kind == "mace_with_fx_payload":
        model = copy.deepcopy(genuine)
        model.extra = obj   # a plain attribute: pickled with the module
        obj = model
    if kind == "legacy_pickle":
        path.write_bytes(pickle.dumps(obj))
    else:
        torch.save(obj, path)
    return path, marker


@pytest.fixture(scope="module")
def genuine():
    return build_mace(channels=8, max_L=0, seed=5)


@pytest.fixture(scope="module")
def frames():
    return rattled_ensemble(3, scale=0.05, seed=1)


def energies(model, frames) -> np.ndarray:
    values = []
    for frame in frames:
        atoms = frame.copy()
        atoms.calc = MACEDescriptorCalculator(model)
        values.append(atoms.get_potential_energy())
    return np.array(values)


# torch.load itself passes a *.safetensors name to safetensors, so that disguise never unpickles
@pytest.mark.parametrize("kind", [kind for kind in KINDS if kind != "pickle_named_safetensors"])
def test_each_payload_is_live_when_the_user_trusts_the_file(kind, tmp_path, genuine):
    path, marker = malicious_file(kind, tmp_path, genuine)
    with contextlib.suppress(Exception):   # the payload runs while unpickling; what is built after may fail
        load_mace(path, trusted=True)
    assert marker.read_text() == "ran"


def _alanine_file(folder: Path) -> Path:
    from ase.io import write
    path = folder / "ala2.extxyz"
    write(path, alanine_dipeptide())
    return path


def _entry_points(path: Path, tmp_path: Path) -> dict:
    """Every path of the package that reads a model file a user can name, as a call."""
    from skmd.al import Campaign, make_config
    from skmd.al.checks import check_model
    from skmd.al.samplers import MD, SKMD, UBMD, UDD, Context
    from skmd.al.selection import SelectionContext, builtin_selector
    from skmd.al.run_dir import RunDir
    from skmd.al.starting_stage import starting_model
    from skmd.al.training import MACETrainer
    from skmd.atoms.parallel import CommitteeFactory, MACEFactory
    from skmd.uncertainty.factory import UBMDFactory
    from skmd.atoms.scoring import score_model_file
    from skmd.atoms.training import FinetuneSettings, finetune, foundation_pickle
    from skmd.studies.ala2_metrics import mace_calculator
    structures = _alanine_file(tmp_path)
    settings = {"structures": str(structures), "oracle": "ase.calculators.emt:EMT", "model": str(path),
                "out": str(tmp_path / "run")}
    run = RunDir(tmp_path / "run")
    context = Context((str(path), str(path)), "fit.extxyz", "calibration.extxyz", None, 0)
    choice = SelectionContext(str(path), [], 0, n_features=16)
    calls = {
        "load_mace": lambda: load_mace(path),
        "load_model": lambda: model_files.load_model(path),
        "write_training_pickle": lambda: model_files.write_training_pickle(path, tmp_path / "w" / "f.model"),
        "convert_model": lambda: model_files.convert_model(path, tmp_path / "w" / "f.safetensors"),
        "foundation_pickle": lambda: foundation_pickle(path, tmp_path / "ft"),
        "finetune": lambda: finetune(path, tmp_path / "train.extxyz", tmp_path / "ft", FinetuneSettings()),
        "MACEFactory": lambda: MACEFactory(str(path))(),
        "CommitteeFactory": lambda: CommitteeFactory((str(path), str(path)), 0.5, 0.1)(),
        "UBMDFactory": lambda: UBMDFactory(str(path), "fit.extxyz", "calibration.extxyz")(),
        "score_model_file": lambda: score_model_file(str(path), [], 1),
        "mace_calculator": lambda: mace_calculator(path),
        "campaign_model": lambda: Campaign(make_config(settings), log=lambda *_: None),
        "check_model": lambda: check_model(path, False, [alanine_dipeptide()]),
        "starting_model": lambda: starting_model(run, make_config(settings), None, [], print),
        "campaign_trainer": lambda: MACETrainer()(path, tmp_path / "train.extxyz", tmp_path / "ft", 0),
        "fps_selection": lambda: builtin_selector("fps")([alanine_dipeptide()], 1, choice),
        "max_det_selection": lambda: builtin_selector("max_det")([alanine_dipeptide()], 1, choice),
    }
    for sampler in (MD(), SKMD(), UBMD(), UDD(members=2)):     # each sampler's calculator in a campaign
        calls[f"sampler_{sampler.name}"] = lambda sampler=sampler: sampler.factory(context)()
    return calls


ENTRY_POINTS = ("load_mace", "load_model", "write_training_pickle", "convert_model", "foundation_pickle", "finetune",
                "MACEFactory", "CommitteeFactory", "UBMDFactory", "score_model_file", "mace_calculator",
                "campaign_model", "check_model", "starting_model", "campaign_trainer",
                "fps_selection", "max_det_selection", "sampler_md", "sampler_skmd", "sampler_ubmd", "sampler_udd")


@pytest.mark.parametrize("kind", KINDS)
def test_no_path_of_the_package_runs_an_untrusted_file(kind, tmp_path, genuine):
    path, marker = malicious_file(kind, tmp_path, genuine)
    calls = _entry_points(path, tmp_path)
    assert set(calls) == set(ENTRY_POINTS)
    for name in ENTRY_POINTS:
        with pytest.raises(UntrustedModelError, match="runs any code it holds.*--trust-model"):
            calls[name]()
        assert not marker.exists(), f"{name} ran the payload of a {kind} file"
    assert not (tmp_path / "run").exists()                        # refused before the run directory is made
    assert not list(tmp_path.glob("ft/foundation*")) and not (tmp_path / "w").exists()   # no pickle for mace


@pytest.mark.parametrize("command", [["al", "--preset", "ala2"], ["ala2", "--quick"], ["ubmd", "--system", "ala2"],
                                     ["al", "--structures", "ALANINE", "--oracle", "ase.calculators.emt:EMT"]])
def test_the_command_line_refuses_an_untrusted_model_in_one_line(command, tmp_path, genuine, capsys):
    from skmd.cli.main import main
    path, marker = malicious_file("mace_with_fx_payload", tmp_path, genuine)
    argv = [str(_alanine_file(tmp_path)) if word == "ALANINE" else word for word in command]
    assert main([*argv, "--model", str(path), "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "runs any code it holds" in error and "--trust-model" in error
    assert error.startswith(f"skmd {command[0]}: error: model {path} ")
    assert not marker.exists() and not (tmp_path / "run").exists()


@pytest.mark.slow
def test_worker_processes_refuse_an_untrusted_file(tmp_path, genuine):
    """The task path (run_tasks on a spawned process pool) with the samplers' calculator factory."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from skmd.atoms.parallel import MACEFactory
    from skmd.atoms.tasks import run_tasks
    files = [malicious_file(kind, tmp_path, genuine) for kind in KINDS]
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        for path, marker in files:
            with pytest.raises(UntrustedModelError, match="--trust-model"):
                run_tasks(MACEFactory(str(path)), [()], executor=pool)
            assert not marker.exists()


def test_trusted_pickles_and_safe_files_predict_the_original_energies(tmp_path, genuine, frames):
    reference = energies(genuine, frames)
    pickled = tmp_path / "genuine.model"
    torch.save(genuine, pickled)
    safe = save_mace(genuine, tmp_path / "genuine.safetensors")
    converted = model_files.convert_model(pickled, tmp_path / "converted.safetensors", trusted=True)
    assert is_safe_model(safe) and is_safe_model(converted) and not is_safe_model(pickled)
    for model in (load_mace(pickled, trusted=True), load_mace(safe), load_mace(converted)):
        assert next(model.parameters()).dtype == torch.float64
        np.testing.assert_allclose(energies(model, frames), reference, rtol=0, atol=1e-6)
    foundation = model_files.write_training_pickle(safe, tmp_path / "run" / "foundation.model")
    np.testing.assert_allclose(energies(load_mace(foundation, trusted=True), frames), reference, rtol=0, atol=1e-6)


def test_a_trusted_model_is_copied_into_the_run_directory_in_the_safe_format(tmp_path, genuine, frames):
    """``model`` with ``trust_model``: checked, then converted to ``model0/model.safetensors`` (never read again)."""
    from skmd.al import Campaign, make_config
    from skmd.al.starting_stage import starting_model
    pickled = tmp_path / "genuine.model"
    torch.save(genuine, pickled)
    settings = {"structures": str(_alanine_file(tmp_path)), "oracle": "ase.calculators.emt:EMT"}
    trusted = {"model": str(pickled), "trust_model": True, "out": str(tmp_path / "run")}
    campaign = Campaign(make_config(settings, trusted), log=lambda *_: None)
    model0 = starting_model(campaign.run_dir, campaign.config, campaign.trainer, [], print)
    assert model0 == tmp_path / "run" / "model0" / "model.safetensors" and is_safe_model(model0)
    np.testing.assert_allclose(energies(load_mace(model0), frames), energies(genuine, frames), atol=1e-6)
    assert {int(z) for z in load_mace(model0).atomic_numbers} == {1, 6, 7, 8}
    pickled.write_bytes(b"changed after the conversion")           # a resumed campaign reads its own copy only
    assert starting_model(campaign.run_dir, campaign.config, campaign.trainer, [], print) == model0 and is_safe_model(model0)
    assert campaign.store.oracle_calls == 0
    safe = save_mace(genuine, tmp_path / "genuine.safetensors")   # a safe model needs no trust
    campaign = Campaign(make_config(settings, {"model": str(safe), "out": str(tmp_path / "run2")}), log=lambda *_: None)
    assert is_safe_model(starting_model(campaign.run_dir, campaign.config, campaign.trainer, [], print))


def _with_config_entry(safe: Path, target: Path, key: str, value) -> Path:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    with safe_open(str(safe), framework="pt") as handle:
        metadata = dict(handle.metadata())
    config = json.loads(metadata["config"])
    config[key] = value
    save_file(load_file(str(safe)), str(target), metadata={**metadata, "config": json.dumps(config)})
    return target


@pytest.mark.parametrize("key, value", [("interaction_cls", {"mace_block": "torch"}),
                                        ("interaction_cls", {"mace_block": "Optional"}),
                                        ("gate", {"function": "exec"}),
                                        ("atomic_energies", {"array": [0, 0, 0, 0], "dtype": "object"}),
                                        ("heads", {"pickle": "gASVAAAAAAAAAAA="})])
def test_a_crafted_safe_file_names_nothing_outside_mace_blocks_and_plain_values(key, value, tmp_path, genuine):
    safe = save_mace(genuine, tmp_path / "genuine.safetensors")
    crafted = _with_config_entry(safe, tmp_path / "crafted.safetensors", key, value)
    assert is_safe_model(crafted)
    with pytest.raises(ValueError, match=key):
        load_mace(crafted)


def test_skmd_writes_only_safetensors_files(tmp_path, genuine):
    with pytest.raises(ValueError, match=r"\.safetensors"):
        save_mace(genuine, tmp_path / "model.model")
    with pytest.raises(ValueError, match="no MACE model file"):
        load_mace(tmp_path / "missing.safetensors")


def test_a_model_trained_in_float32_is_stored_in_float32_without_loss(tmp_path, genuine, frames):
    """Weights that are all float32 numbers (float32 training) are stored as float32: half the file, the same
    energies to the last bit; any weight that is not keeps the whole file float64."""
    from skmd.al.publish import tensor_dtypes
    as32 = copy.deepcopy(genuine).float().double()          # a float32-trained model, held in float64
    as64 = copy.deepcopy(as32)
    with torch.no_grad():
        next(as64.parameters()).view(-1)[0] += 1e-12        # one weight that float32 cannot hold
    wide = save_mace(as64, tmp_path / "wide.safetensors")
    narrow = save_mace(as32, tmp_path / "narrow.safetensors")
    floats = lambda path: [d for d in tensor_dtypes(path) if d.startswith("F")]  # noqa: E731
    assert floats(wide) == ["F64"] and floats(narrow) == ["F32"]
    assert narrow.stat().st_size < 0.6 * wide.stat().st_size
    loaded = load_mace(narrow)
    assert next(loaded.parameters()).dtype == torch.float64
    for name, value in as32.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    np.testing.assert_array_equal(energies(loaded, frames), energies(as32, frames))


def test_the_same_model_saved_twice_is_the_same_file(tmp_path, genuine):
    """Equal tensors and metadata give equal bytes, so a published model's SHA-256 names its contents (the
    safetensors writer orders its metadata differently on every call; skmd sorts the header)."""
    from skmd.tools.files import file_sha256, safetensors_header
    paths = [save_mace(genuine, tmp_path / f"copy{k}.safetensors") for k in range(4)]
    again = model_files.convert_model(paths[0], tmp_path / "converted.safetensors")
    assert len({file_sha256(path) for path in [*paths, again]}) == 1
    header = safetensors_header(paths[1])          # json keeps the file's order of keys
    assert list(header) == sorted(header) and list(header["__metadata__"]) == sorted(header["__metadata__"])

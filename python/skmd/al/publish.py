"""Publish the final models of campaigns compared over seeds: one folder anyone can score on another test set.

``publish_models(run_dirs, folder)`` copies each finished run's final models (skmd's ``.safetensors``:
tensors and a JSON header, no code) to ``folder/seed<S>/<sampler>.safetensors`` through
:func:`skmd.atoms.model_files.convert_model` (the model is rebuilt, so a damaged file is refused, and stored
as ``save_model`` stores it: float32 where that loses nothing) and writes ``folder/manifest.json``: per model its sampler, seed, the labels it was trained on, the code that made it
(skmd version and git commits of every invocation of the run, from ``runs.json``), its tensor dtypes,
size and sha256. The manifest's ``config`` names no folder of the machine that ran it: a file shipped with skmd
is written ``skmd/data/...``, one under the working folder relative to it, any other by its name, and ``inputs`` gives every input file's
sha256, so that a reader can check they start from the same structures, model and test set.
``skmd export`` turns any of them into a mace ``.model``.
"""
from __future__ import annotations

from pathlib import Path

from ..tools.files import file_sha256, safetensors_header
from ..tools.rundir import write_json
from .invocations import invocations
from .over_seeds import MAY_DIFFER, read_runs
from .run_dir import RunDir


def tensor_dtypes(path: Path) -> list:
    """The dtypes of a safetensors file's tensors, read from its header."""
    return sorted({entry["dtype"] for key, entry in safetensors_header(path).items() if key != "__metadata__"})


def portable_path(path: Path) -> str:
    """``path`` without this machine's folders: ``skmd/...`` inside the installed package, relative to the
    working folder under it, else the file's name alone (its sha256 in the manifest says which file it was)."""
    path = path.resolve()
    package = Path(__file__).resolve().parent.parent
    for root, prefix in ((package, Path("skmd")), (Path.cwd().resolve(), Path())):
        if path.is_relative_to(root):
            return (prefix / path.relative_to(root)).as_posix()
    return path.name


def portable_config(config: dict) -> tuple[dict, dict]:
    """The config with every value that names a file made portable (:func:`portable_path`), and
    ``{key: {"path", "sha256"}}`` of those files."""
    portable, inputs = dict(config), {}
    for key, value in config.items():
        if isinstance(value, str) and value and Path(value).is_file():
            portable[key] = portable_path(Path(value))
            inputs[key] = {"path": portable[key], "sha256": file_sha256(value)}
    return portable, inputs


def publish_models(run_dirs, folder) -> dict:
    """Copy the final models of finished campaigns of one config (several seeds; refused in one line as
    :func:`skmd.al.over_seeds.read_runs` refuses them) into ``folder`` with ``manifest.json``; returns it."""
    from ..atoms.model_files import convert_model  # noqa: PLC0415  lazy: imports torch and mace
    runs = read_runs([str(d) for d in run_dirs])
    folder = Path(folder)
    models = []
    for run in runs:
        seed, made_by = run["config"]["seed"], invocations(Path(run["run_dir"]))
        for name, sampler in run["samplers"].items():
            # the final model's path inside this run directory (results.json's final_model is absolute, so it
            # would point at the folder the run was made in, not at a copy of it)
            source = RunDir(run["run_dir"]).models(name, len(sampler["iterations"]), 1)[0]
            final = sampler["iterations"][-1]
            target = folder / f"seed{seed}" / f"{name}.safetensors"
            convert_model(source, target)            # a safe file: read without trust, stored as save_model stores
            models.append({"sampler": name, "seed": seed, "file": str(target.relative_to(folder)),
                           "sha256": file_sha256(target), "bytes": target.stat().st_size, "dtypes": tensor_dtypes(target),
                           "new_labels": sum(m["n_labelled"] for m in sampler["iterations"]),
                           "train_labels": final["n_train"], "calibration_labels": final["n_calibration"],
                           "test_force_rmse_meV_A": final["force_rmse_meV_A"], "run_dir": portable_path(Path(run["run_dir"])),
                           "skmd": sorted({r.get("skmd") or "unrecorded" for r in made_by}),
                           "commits": [r.get("commit") or "unrecorded" for r in made_by]})
    config, inputs = portable_config({k: v for k, v in runs[0]["config"].items() if k not in MAY_DIFFER})
    manifest = {"preset": runs[0]["config"].get("preset"), "seeds": [run["config"]["seed"] for run in runs],
                "config": config, "inputs": inputs, "models": models}
    write_json(folder / "manifest.json", manifest)
    return manifest

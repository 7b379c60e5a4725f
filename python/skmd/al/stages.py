"""The stages before the loop: the starting labels and their split, the test set, the starting model.

Files under the run directory: ``start/frames.extxyz`` (perturbed copies of the structures),
``start/split.json`` (which labelled frames test, calibrate and train), ``start/{train,calibration,
test}.extxyz``, ``start/e0s.json`` and ``model0/`` (the user's model converted to skmd's safe format, or
the surrogate). Every stage is skipped when its output exists, and labels go through the campaign's
:class:`~skmd.atoms.store.LabelStore`, so a killed campaign resumes without a second oracle call.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..tools.rundir import write_json
from .splits import validation
from .start import perturbed_copies, split_indices


def starting_data(campaign) -> dict:
    """{"train", "calibration", "test"}: lists of labelled frames (``test`` empty when a test file is given)."""
    from ..atoms.store import atomic_write_frames, read_frames  # noqa: PLC0415
    c, folder = campaign.config, campaign.out / "start"
    paths = {name: folder / f"{name}.extxyz" for name in ("train", "calibration", "test")}
    if all(path.exists() for path in paths.values()):
        return {name: read_frames(path) for name, path in paths.items()}
    if not (folder / "frames.extxyz").exists():
        frames = perturbed_copies(campaign.structures, c.start_frames, c.perturb_A, c.perturb_strain, c.seed)
        atomic_write_frames(folder / "frames.extxyz", frames)
    frames = read_frames(folder / "frames.extxyz")
    campaign.log(f"starting data: oracle labels of {len(frames)} perturbed copies of the structures")
    labelled, _ = campaign.store.label("start", frames)
    fractions = {"calibration": c.calibration_fraction}
    if c.test is None:
        fractions = {"test": c.test_fraction, **fractions}
    split = split_indices(len(labelled), fractions, c.seed)
    write_json(folder / "split.json", split)
    parts = {"train": split["rest"], "calibration": split["calibration"], "test": split.get("test", [])}
    for name, indices in parts.items():
        atomic_write_frames(paths[name], [labelled[i] for i in indices])
    return {name: read_frames(path) for name, path in paths.items()}


def isolated_atom_energies(campaign, numbers) -> dict:
    """{Z: eV} of each element alone from the oracle (checkpointed in ``start/e0s.json``)."""
    path = campaign.out / "start" / "e0s.json"
    if not path.exists():
        from ..atoms.training import isolated_atom_energies as compute  # noqa: PLC0415
        write_json(path, {str(z): e for z, e in compute(campaign.oracle_factory, numbers).items()})
    return {int(z): e for z, e in json.loads(path.read_text()).items()}


def starting_model(campaign, train_frames) -> Path:
    """``model0/model.safetensors``: the user's model (converted; its elements checked) or a surrogate
    trained from scratch on the starting training labels."""
    from ..atoms.model_files import convert_model  # noqa: PLC0415
    from ..atoms.store import atomic_write_frames  # noqa: PLC0415
    from .training import kept  # noqa: PLC0415
    c, folder = campaign.config, campaign.out / "model0"
    final = folder / "model.safetensors"
    if final.is_file():
        return final
    if c.model is not None:
        return convert_model(c.model, final, trusted=c.trust_model)
    atomic_write_frames(folder / "train.extxyz", train_frames)
    campaign.log(f"starting model: training a {c.model_channels}-channel MACE from scratch on "
                 f"{len(train_frames)} labelled frames")
    return kept(campaign.trainer(None, folder / "train.extxyz", folder / "training", c.seed,
                                 **validation(c, campaign.out / "start")), final)


def committee_members(campaign, model0: Path, train_file: Path, n_models: int) -> list:
    """The models a sampler chain starts from: ``model0`` and ``n_models − 1`` more, trained on the starting
    labels with seeds ``seed + m`` (fine-tuned from ``model0``, or from scratch in ``scratch`` mode), side by
    side on ``workers`` threads."""
    from ..tools.pool import thread_map  # noqa: PLC0415
    from .training import kept  # noqa: PLC0415
    finals = [campaign.out / "model0" / f"member{m}.safetensors" for m in range(1, n_models)]

    def train(m: int) -> None:
        if not finals[m - 1].is_file():
            campaign.log(f"starting committee: member {m} of {n_models}")
            trained = campaign.trainer(model0, train_file, campaign.out / "model0" / f"training{m}",
                                       campaign.config.seed + m, **validation(campaign.config, campaign.out / "start"))
            kept(trained, finals[m - 1])

    thread_map(train, range(1, n_models), campaign.config.workers or 1)
    return [model0, *finals]


def model_elements(path) -> set:
    """The atomic numbers a model file knows (skmd's safe format)."""
    from ..atoms.mace_models import load_mace  # noqa: PLC0415
    return {int(z) for z in load_mace(path).atomic_numbers}

"""A campaign's starting stage: the starting labels and their split, the test set, the starting model
(and a committee's further members), and the starting model's score.

Each function writes its output under the run directory (:class:`~skmd.al.run_dir.RunDir`) and returns
it read back when it is already there; labels go through the campaign's
:class:`~skmd.atoms.store.LabelStore`, so a killed campaign resumes without a second oracle call.
"""
from __future__ import annotations

from pathlib import Path

from ..atoms.model_files import convert_model
from ..atoms.scoring import score_model_file
from ..atoms.tasks import run_tasks
from ..atoms.training import isolated_atom_energies
from ..tools.device import resolve_device
from ..tools.pool import thread_map
from ..tools.threads import resolve_threads
from ..tools.words import plural
from .run_dir import START_KEY, RunDir
from .splits import validation
from .start import perturbed_copies, split_indices
from .training import kept

#: the parts of the starting labels: trained on, held out (calibration, early stopping), scored on
START_PARTS = ("train", "calibration", "test")


def starting_labels(run: RunDir, config, structures: list, store, log, given: list | None = None) -> dict:
    """{"train", "calibration", "test"}: lists of labelled frames (``test`` empty when a test file is given):
    ``given`` labelled frames (``start_labels``), or oracle labels of ``config.start_frames`` perturbed copies
    of ``structures``, split at random (seeded). With ``replace_failed``, copies the oracle fails on are
    replaced by further copies of the same seeded sequence, up to ``2 × start_frames`` copies in all."""
    paths = {part: run.start_file(part) for part in START_PARTS}
    if all(path.exists() for path in paths.values()):
        return {part: run.read_frames(path) for part, path in paths.items()}
    if given is not None:
        log(f"starting data: the {len(given)} labelled frames of {config.start_labels} (no oracle calls)")
        return _split(run, config, given, paths)
    if not run.start_file("frames").exists():
        frames = perturbed_copies(structures, config.start_frames, config.perturb_A, config.perturb_strain, config.seed)
        run.write_frames(run.start_file("frames"), frames)
    frames = run.read_frames(run.start_file("frames"))
    log(f"starting data: oracle labels of {len(frames)} perturbed copies of the structures")
    labelled, failures = store.label(START_KEY, frames, warn=False)
    while config.replace_failed and failures and len(labelled) < config.start_frames \
            and len(frames) < 2 * config.start_frames:
        # the copies are drawn in sequence from one seeded stream: more of them extend the same list
        wanted = min(len(frames) + config.start_frames - len(labelled), 2 * config.start_frames)
        log(f"starting data: {plural(len(failures), 'copy', 'copies')} failed at the oracle so far; labelling the next "
            f"{wanted - len(frames)} in their place")
        frames = perturbed_copies(structures, wanted, config.perturb_A, config.perturb_strain, config.seed)
        run.write_frames(run.start_file("frames"), frames)
        labelled, failures = store.label(START_KEY, frames, warn=False)
    store.warn_failed(START_KEY, failures, len(frames))
    if failures:
        log(f"starting data: {len(labelled)} of {config.start_frames} labels ({len(failures)} copies failed at "
            "the oracle)")
    return _split(run, config, labelled, paths)


def _split(run: RunDir, config, labelled: list, paths: dict) -> dict:
    """The seeded split of the starting labels into ``paths`` (written), read back."""
    fractions = {"calibration": config.calibration_fraction}
    if config.test is None:
        fractions = {"test": config.test_fraction, **fractions}
    split = split_indices(len(labelled), fractions, config.seed)
    run.write_json(run.split, split)
    parts = {"train": split["rest"], "calibration": split["calibration"], "test": split.get("test", [])}
    for part, indices in parts.items():
        run.write_frames(paths[part], [labelled[i] for i in indices])
    return {part: run.read_frames(path) for part, path in paths.items()}


def oracle_e0s(run: RunDir, oracle_factory, numbers) -> dict:
    """{Z: eV}: each element's isolated-atom energy from the oracle, checkpointed in ``start/e0s.json``."""
    if not run.e0s.exists():
        computed = isolated_atom_energies(oracle_factory, numbers)
        run.write_json(run.e0s, {str(z): e for z, e in computed.items()})
    return {int(z): e for z, e in run.read_json(run.e0s).items()}


def starting_model(run: RunDir, config, trainer, train_frames: list, log) -> Path:
    """``model0/model.safetensors``: the user's model (converted to skmd's safe format; its elements checked
    before), or a surrogate that ``trainer`` trains from scratch on the starting training labels."""
    final = run.starting_models(1)[0]
    if final.is_file():
        return final
    if config.model is not None:
        return convert_model(config.model, final, trusted=config.trust_model)
    run.write_frames(run.model0_dir / "train.extxyz", train_frames)
    log(f"starting model: training a {config.model_channels}-channel MACE from scratch on "
        f"{len(train_frames)} labelled frames")
    trained = trainer(None, run.model0_dir / "train.extxyz", run.model0_dir / "training", config.seed,
                      **validation(config, run.start_file("calibration")))
    return kept(trained, final)


def committee_members(run: RunDir, config, trainer, n_models: int, log) -> list:
    """The models a chain of ``n_models`` starts from: the starting model and ``n_models − 1`` more, trained
    on the starting labels with seeds ``seed + m`` (fine-tuned from the starting model, or from scratch in
    ``scratch`` mode), side by side on ``workers`` threads."""
    models = run.starting_models(n_models)

    def train(m: int) -> None:
        if not models[m].is_file():
            log(f"starting committee: member {m} of {n_models}")
            trained = trainer(models[0], run.start_file("train"), run.model0_dir / f"training{m}", config.seed + m,
                              **validation(config, run.start_file("calibration")))
            kept(trained, models[m])

    thread_map(train, range(1, n_models), config.workers or 1)
    return models


def initial_score(run: RunDir, config, model0: Path, test: list, executor) -> dict:
    """The starting model's test errors (``model0/score.json``), scored on the executor."""
    if not run.initial_score.exists():
        task = (model0, test, resolve_threads(config.threads), resolve_device(config.device))
        run.write_json(run.initial_score, run_tasks(score_model_file, [task], executor=executor)[0])
    return run.read_json(run.initial_score)

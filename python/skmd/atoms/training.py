"""Training and fine-tuning MACE models with mace-torch's own ``mace_run_train``.

Nothing here reimplements training: each function builds the command line of
``python -m mace.cli.run_train`` (the ``mace_run_train`` entry point), runs it in a process of its own
(forked from a warm process that has imported torch and mace, :mod:`skmd.atoms.training_process`)
with its log kept, and returns the trained model in skmd's safe format (``<name>.safetensors`` in
the work directory, see :mod:`skmd.atoms.model_files`). The datasets are extxyz files with
``REF_energy`` (eV) and ``REF_forces`` (eV/Å), as :mod:`skmd.atoms.oracle` writes them.

Model files and trust: the ``--foundation_model`` pickle mace reads is written by skmd into the work
directory from a safe file; the ``.model`` mace writes back is converted to the safe file as soon
as the run returns (trusted: skmd's own training process wrote it there) and never read again.

Fine-tuning follows the paper's E.2 protocol by default: LoRA of rank 4 (``mace.modules.lora``
through ``--lora``; the adapters are merged into the saved model), a first stage with force/energy
weights 1000/40 and learning rate 0.01, and from ``switch_epoch`` on the stage-two weights 10/1000
and learning rate 0.001 (mace's ``--stage_two``). ``mode="full"`` fine-tunes every weight instead.

``mode="multihead"`` is mace's multi-head fine-tuning with replay (``--multiheads_finetuning=True``):
every weight is trained, on the new data through a new readout head ("Default", the name mace gives
the head of ``--train_file``) and at the same time on ``replay_file`` (labelled frames of the base
model's own data, ``--pt_train_file``) through a second head, ``pt_head``, whose E0s mace takes from
the base model. The shared layers thus keep fitting the old data while the new head learns the new.
Only local files are read: the foundation pickle and the replay copy are paths, never mace's named
foundation models or its downloadable replay sets ("mp", "omat", ...). skmd keeps the new head alone
(mace's ``remove_pt_head``, :func:`~skmd.atoms.model_files.adopt_trained`): the saved model is a
single-head MACE whose output is the fine-tuned head; ``pt_head`` is dropped. The E.2 schedule above
applies (``--force_mh_ft_lr=True``; without it mace would set its own learning rate 1e-4 and EMA).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import iread

from ..tools.labels import ENERGY_KEY, FORCES_KEY, STRESS_KEY, reference_labels
from .descriptors import MACEDescriptor
from .mace_models import load_mace
from .model_files import adopt_trained, check_readable, convert_model, is_safe_model, write_training_pickle
from .training_process import run_training_process
from .training_data import replay_copy, replay_frames, training_size  # noqa: F401  (re-exported)
from ..tools.training_settings import (FINETUNE_MODES, TRAINING_DTYPES,  # noqa: F401  (re-exported)
                                      FinetuneSettings, SurrogateSettings, check_dtype)

#: the head mace_run_train names for the data of ``--train_file`` (mace.tools.multihead_tools.prepare_default_head)
NEW_HEAD = "Default"


def isolated_atom_energies(calculator_factory, atomic_numbers) -> dict:
    """E0 (eV) of each element alone, from the oracle; odd-electron atoms are doublets."""
    energies = {}
    for z in sorted({int(z) for z in atomic_numbers}):
        atom = Atoms(numbers=[z])
        atom.set_initial_magnetic_moments([float(z % 2)])
        atom.calc = calculator_factory()
        energies[z] = float(atom.get_potential_energy())
    return energies


#: mace_run_train's end phase, trimmed to what skmd reads (the ``.model`` it converts): no plots and no error
#: tables of the training and validation sets (every ``train_*``/``valid_*`` loader is skipped; the per-epoch
#: validation log stays). mace 0.3.16 has no flag for its two JIT-compiled copies (``*_compiled.model``).
END_PHASE_ARGS = ("--plot=False", "--skip_evaluate_heads=train_,valid_")


def _common_args(name: str, train_file: Path, work_dir: Path, seed: int, batch_size: int,
                 valid_fraction: float, epochs: int, valid_file=None, dtype: str = "float64",
                 device: str = "cpu") -> list:
    """mace_run_train's data, batch and run flags. With ``valid_file`` those frames are the validation
    (early-stopping) set and every frame of ``train_file`` trains; else mace holds out ``valid_fraction``.
    ``dtype``: the precision mace trains in (one of :data:`TRAINING_DTYPES`); ``device``: "cpu" or "cuda"
    (the saved model is a CPU model either way, ``--save_cpu``)."""
    check_dtype(dtype)
    n_frames = sum(1 for _ in iread(str(train_file), index=":", format="extxyz"))
    if valid_file is None:
        n_train = training_size(train_file, n_frames, valid_fraction)
        validation = [f"--valid_fraction={valid_fraction}"]
    else:
        n_valid = sum(1 for _ in iread(str(valid_file), index=":", format="extxyz"))
        if n_frames < 1 or n_valid < 1:
            raise ValueError(f"{train_file} ({n_frames} frames) and {valid_file} ({n_valid} frames) must both hold "
                             "frames to train and validate on")
        n_train, validation = n_frames, [f"--valid_file={Path(valid_file).resolve()}"]
    batch_size = min(batch_size, n_train)  # mace drops incomplete training batches
    return [f"--name={name}", f"--train_file={train_file}", *validation,
            f"--energy_key={ENERGY_KEY}", f"--forces_key={FORCES_KEY}", f"--work_dir={work_dir}",
            f"--batch_size={batch_size}", f"--valid_batch_size={batch_size}", f"--max_num_epochs={epochs}",
            f"--seed={seed}", f"--device={device}", f"--default_dtype={dtype}", "--save_cpu", "--eval_interval=1",
            "--num_workers=0", "--pin_memory=False", *END_PHASE_ARGS]


def stress_args(weight: float, stage_two: bool = False) -> list:
    """Flags that make mace_run_train fit ``REF_stress`` with loss weight ``weight`` (none for 0)."""
    if weight <= 0:
        return []
    args = ["--loss=stress", f"--stress_key={STRESS_KEY}", f"--stress_weight={weight}", "--compute_stress=True",
            "--error_table=PerAtomRMSEstressvirials"]
    return args + ([f"--swa_stress_weight={weight}"] if stage_two else [])


def _e0s_text(e0s: dict) -> str:
    """mace's --E0s text for {Z: energy in eV}."""
    return str({int(z): float(e) for z, e in e0s.items()})


def run_mace_train(args: list, work_dir: Path, name: str, threads: int = 1, device: str = "cpu") -> Path:
    """Run ``mace_run_train`` with ``args`` on ``threads`` threads (its own environment's OMP/MKL/OpenBLAS
    counts and torch's, whatever this process's are), in a child of skmd's warm training process
    (:mod:`skmd.atoms.training_process`; ``device`` "cuda": a fresh process, as CUDA cannot follow a fork);
    return the ``.model`` pickle it saved (stage two when present). ``args`` name the same device
    (``--device=``, :func:`_common_args`). Callers convert it at once with
    :func:`~skmd.atoms.model_files.adopt_trained`.

    Raises RuntimeError with the tail of mace's log when training fails.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    log_path = work_dir / f"{name}.stdout"
    status = run_training_process(args, log_path, work_dir, threads, device)
    if status != 0:
        tail = log_path.read_text()[-3000:] if log_path.is_file() else "(no log: the training did not start)"
        raise RuntimeError(f"mace_run_train failed (exit {status}); log {log_path}:\n{tail}")
    for candidate in (work_dir / f"{name}_stagetwo.model", work_dir / f"{name}.model"):
        if candidate.is_file():
            return candidate
    raise RuntimeError(f"mace_run_train finished but wrote no {name}.model in {work_dir}")


def _clean(work_dir: Path):
    """Remove mace's own checkpoints so that a rerun trains afresh (skmd checkpoints itself)."""
    shutil.rmtree(Path(work_dir) / "checkpoints", ignore_errors=True)


def train_surrogate(train_file, work_dir, e0s: dict, settings: SurrogateSettings = SurrogateSettings(),
                    seed: int = 0, name: str = "surrogate", valid_file=None, device: str = "cpu",
                    threads: int = 1) -> Path:
    """Train a MACE from scratch on ``train_file``; returns ``work_dir/<name>.safetensors``. ``valid_file``:
    labelled frames to validate (and keep the best checkpoint) on instead of a ``valid_fraction`` split.
    ``device``: "cpu" or "cuda"; ``threads``: the training process's threads."""
    work_dir = Path(work_dir)
    _clean(work_dir)
    args = _common_args(name, Path(train_file).resolve(), work_dir.resolve(), seed, settings.batch_size,
                        settings.valid_fraction, settings.epochs, valid_file, settings.dtype, device)
    args += ["--model=ScaleShiftMACE", f"--num_channels={settings.channels}", f"--max_L={settings.max_L}",
             f"--num_interactions={settings.num_interactions}", f"--r_max={settings.r_max}", "--correlation=3",
             f"--E0s={_e0s_text(e0s)}", f"--lr={settings.lr}",
             f"--forces_weight={settings.forces_weight}", f"--energy_weight={settings.energy_weight}",
             "--scaling=rms_forces_scaling", *stress_args(settings.stress_weight)]
    if settings.patience is not None:
        args.append(f"--patience={settings.patience}")
    return adopt_trained(run_mace_train(args, work_dir, name, threads=threads, device=device),
                         work_dir / f"{name}.safetensors")


def foundation_e0s(foundation_model) -> dict:
    """{Z: isolated-atom energy in eV} stored in a MACE ``.model`` (its first head for a multi-head model).

    mace's own ``--E0s=foundation`` fails for a single-element model in mace 0.3.16 (``IndexError:
    invalid index of a 0-dim tensor``), so :func:`finetune` reads them here and passes them explicitly.
    ``foundation_model`` is the pickle skmd itself wrote from a safe file (:func:`foundation_pickle`),
    which mace_run_train unpickles in full anyway.
    """
    model = load_mace(foundation_model, trusted=True)
    numbers = [int(z) for z in np.atleast_1d(model.atomic_numbers.detach().cpu().numpy())]
    energies = np.asarray(model.atomic_energies_fn.atomic_energies.detach().cpu().numpy(), float)
    energies = energies.reshape(-1, len(numbers))[0]
    return dict(zip(numbers, energies.tolist()))


def finetune(foundation_model, train_file, work_dir, settings: FinetuneSettings = FinetuneSettings(),
             seed: int = 0, name: str = "finetuned", trusted: bool = False, valid_file=None,
             device: str = "cpu", threads: int = 1) -> Path:
    """Fine-tune a MACE model on ``train_file`` (E.2 schedule); returns ``work_dir/<name>.safetensors``.

    ``foundation_model`` is a file in skmd's safe format, or, with ``trusted=True`` only, a pickled
    ``.model`` (e.g. a foundation model), first converted to ``work_dir/foundation.safetensors``.
    ``valid_file``: labelled frames to validate on instead of a ``valid_fraction`` split. ``device``: "cpu"
    or "cuda"; ``threads``: the training process's threads.
    """
    work_dir = Path(work_dir)
    foundation = foundation_pickle(foundation_model, work_dir, trusted)
    _clean(work_dir)
    args = _common_args(name, Path(train_file).resolve(), work_dir.resolve(), seed, settings.batch_size,
                        settings.valid_fraction, settings.epochs, valid_file, settings.dtype, device)
    known = foundation_e0s(foundation) if settings.e0s is None or settings.mode == "multihead" else {}
    e0s = known if settings.e0s is None else settings.e0s
    args += [f"--foundation_model={foundation.resolve()}", *_mode_args(settings, work_dir, known),
             f"--E0s={_e0s_text(e0s)}",
             f"--lr={settings.lr}", f"--forces_weight={settings.forces_weight}",
             f"--energy_weight={settings.energy_weight}", "--stage_two", f"--start_stage_two={settings.switch_epoch}",
             f"--swa_lr={settings.stage_two_lr}", f"--swa_forces_weight={settings.stage_two_forces_weight}",
             f"--swa_energy_weight={settings.stage_two_energy_weight}",
             *stress_args(settings.stress_weight, stage_two=True)]
    trained = run_mace_train(args, work_dir, name, threads=threads, device=device)
    target = work_dir / f"{name}.safetensors"
    if settings.mode == "multihead":
        return adopt_trained(trained, target, head=NEW_HEAD)   # the new head alone; pt_head is dropped
    return adopt_trained(trained, target)


def _mode_args(settings: FinetuneSettings, work_dir: Path, known_e0s: dict) -> list:
    """mace_run_train flags of the fine-tuning mode; multihead writes the replay copy it trains on."""
    if settings.mode == "lora":
        return ["--multiheads_finetuning=False", "--lora=True", f"--lora_rank={settings.lora_rank}",
                f"--lora_alpha={settings.lora_alpha}"]
    if settings.mode == "full":
        return ["--multiheads_finetuning=False"]
    replay = replay_copy(settings.replay_file, work_dir / "replay.extxyz", known_e0s, settings.valid_fraction,
                         stress=settings.stress_weight > 0)
    return ["--multiheads_finetuning=True", f"--pt_train_file={replay.resolve()}", "--force_mh_ft_lr=True"]


def foundation_pickle(model_file, work_dir, trusted: bool = False) -> Path:
    """``work_dir/foundation.model``, the pickle ``mace_run_train --foundation_model`` reads, written by
    skmd from ``model_file`` (safe format; a pickle only with ``trusted=True``, converted first)."""
    work_dir, safe = Path(work_dir), check_readable(model_file, trusted, role="foundation model")
    if not is_safe_model(safe):
        safe = convert_model(safe, work_dir / "foundation.safetensors", trusted=trusted)
    return write_training_pickle(safe, work_dir / "foundation.model")


def rmse(model, frames) -> dict:
    """Total-energy RMSE (eV) and force-component RMSE (eV/Å) of ``model`` on labelled frames."""
    energy_errors, force_errors = [], []
    evaluator = MACEDescriptor(model)
    for frame in frames:
        result = evaluator.evaluate(frame)
        label = reference_labels(frame)
        energy_errors.append(result["energy"] - label.energy)
        force_errors.append((result["forces"] - label.forces).ravel())
    return {"energy_rmse": float(np.sqrt(np.mean(np.square(energy_errors)))),
            "force_rmse": float(np.sqrt(np.mean(np.square(np.concatenate(force_errors)))))}

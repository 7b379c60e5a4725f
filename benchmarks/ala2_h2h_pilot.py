"""The ala2-h2h head-to-head's two pilots (docs/ala2-h2h-protocol.md), on the shipped starting point only.

``--pilot h``: one iteration of sampling (the preset's 15 walkers x 10 moves x 100 steps) from the burned-in
ensemble with the shipped surrogate, for MD 300 K and for SKMD at h/N in {0.1, 0.2, 0.375, 0.75}; every
candidate labelled by GFN2-xTB. Admissible, fixed before the pilot ran: the median candidate energy at most
1 eV above MD 300 K's and an SCF failure rate at most 5 percentage points above MD 300 K's. The exploration
arm's h is the largest admissible one.

``--pilot finetune``: full fine-tuning from the surrogate for 30, 60 and 100 epochs on the starting training
labels plus 50 labelled MD 300 K pilot candidates (furthest-point picks), scored on validation labels only
(the starting calibration frames and 100 labelled candidates of the SKMD arm the h pilot chose, never the
test set). The lowest
validation force RMSE wins; a tie within 2 % goes to fewer epochs.

Writes benchmarks/results/ala2_h2h_pilot.json (both pilots, their rule's choice, CPU and threads).
Run: .venv/bin/python benchmarks/ala2_h2h_pilot.py --pilot h   (then --pilot finetune); arms may run side by
side first, each cached: --pilot h --arm skmd1.5 --threads 1
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import mace  # noqa: F401  mace before e3nn
import numpy as np
from ase.io import read, write
from skmd.al.config import make_config
from skmd.al.presets import read_preset
from skmd.al.samplers import Context, builtin_samplers
from skmd.al.selection import SelectionContext, builtin_selector
from skmd.atoms.oracle import Oracle, gfn2_xtb
from skmd.atoms.parallel import run_samplers
from skmd.atoms.scoring import score_model_file
from skmd.tools.machine import machine_info

RESULT = Path(__file__).resolve().parent / "results" / "ala2_h2h_pilot.json"
WORK = Path(__file__).resolve().parent / "work" / "ala2_h2h" / "pilot"
SEED = 4242                       # the pilots' own seed: no campaign seed samples these streams
RATIOS = (0.1, 0.2, 0.375, 0.75)  # h/N
ENERGY_MARGIN_EV, FAILURE_MARGIN = 1.0, 0.05
EPOCHS = (30, 60, 100)


def _config(**settings):
    return make_config(read_preset("ala2-h2h"), {"out": str(WORK / "unused"), **settings})


def _arms(config) -> dict:
    """name → sampler: MD 300 K and SKMD at each h/N of :data:`RATIOS` (``skmd<h>``)."""
    names = ["md300", *(f"skmd{ratio * config.walkers:g}" for ratio in RATIOS)]
    return {s.name: s for s in builtin_samplers(replace(config, samplers=tuple(names)))}


def sample_and_label(name, sampler, config, threads: int) -> dict:
    """One iteration's candidates of ``sampler`` from the shipped ensemble, every one labelled; cached."""
    folder = WORK / name
    if (folder / "summary.json").exists():
        return json.loads((folder / "summary.json").read_text())
    folder.mkdir(parents=True, exist_ok=True)
    ensemble = read(config.structures, index=":")
    context = Context((config.model,), "", "", None, SEED, "cpu")
    started = time.perf_counter()
    result = run_samplers([sampler.spec(config.walkers * config.moves, config.steps, seed=SEED)], {name: ensemble},
                          {name: sampler.factory(context)}, threads=threads)[name]
    sample_s = time.perf_counter() - started
    batch = Oracle(gfn2_xtb).label(result["candidates"])
    write(folder / "labelled.extxyz", batch.labelled, format="extxyz")
    energies = [f.info["REF_energy"] for f in batch.labelled]
    summary = {"candidates": len(result["candidates"]), "dropped": len(result["dropped"]),
               "failed": len(batch.failed), "failure_rate": len(batch.failed) / max(1, len(result["candidates"])),
               "median_energy_eV": float(np.median(energies)), "sample_s": round(sample_s, 1)}
    (folder / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def h_pilot(threads: int, finished_only: bool = False) -> dict:
    """The h pilot's record; with ``finished_only``, from the arms already sampled (the others listed as not
    run), its choice given only where the arms not run cannot change it (no larger h/N among them)."""
    config = _config()
    arms = _arms(config)
    if finished_only:
        arms = {name: s for name, s in arms.items() if (WORK / name / "summary.json").exists()}
    summaries = {name: sample_and_label(name, sampler, config, threads) for name, sampler in arms.items()}
    md = summaries["md300"]
    admissible = {name: bool(s["median_energy_eV"] <= md["median_energy_eV"] + ENERGY_MARGIN_EV
                             and s["failure_rate"] <= md["failure_rate"] + FAILURE_MARGIN)
                  for name, s in summaries.items() if name != "md300"}
    not_run = [name for name in _arms(config) if name not in summaries]
    chosen = [name for name in admissible if admissible[name]]
    best = max(chosen, key=lambda name: float(name[4:])) if chosen else None
    if best is not None and any(float(name[4:]) > float(best[4:]) for name in not_run):
        best = None                      # an arm not run could still be the largest admissible one
    return {"rule": f"largest h/N in {list(RATIOS)} with median candidate energy <= MD 300 K's + {ENERGY_MARGIN_EV} eV "
                    f"and SCF failure rate <= MD 300 K's + {FAILURE_MARGIN:.0%}",
            "walkers": config.walkers, "moves": config.moves, "steps": config.steps, "seed": SEED,
            "arms": summaries, "not_run": not_run, "admissible": admissible, "chosen": best,
            "chosen_amplitude": None if best is None else float(best[4:])}


def finetune_pilot(threads: int) -> dict:
    from skmd.al.training import MACETrainer  # lazy: mace_run_train only here
    config = _config()
    md = read(WORK / "md300" / "labelled.extxyz", index=":")
    arm = json.loads(RESULT.read_text())["h"]["chosen"]          # the h pilot first: its arm validates
    skmd = read(WORK / arm / "labelled.extxyz", index=":")
    thermal = read(config.start_labels, index=":")
    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(thermal))
    n_valid = round(config.calibration_fraction * len(thermal))
    start_valid, start_train = [thermal[i] for i in order[:n_valid]], [thermal[i] for i in order[n_valid:]]
    context = SelectionContext(config.model, start_train, SEED, config.ubmd_features)
    picks = builtin_selector("fps")(md, 50, context)
    new = [md[i] for i in picks]
    for frame in new:
        frame.info["skmd_source"] = "pilot/md300"
    valid = start_valid + [skmd[i] for i in rng.permutation(len(skmd))[:100]]   # the chosen SKMD arm's candidates
    WORK.mkdir(parents=True, exist_ok=True)
    write(WORK / "finetune_train.extxyz", start_train + new, format="extxyz")
    rows = {}
    for epochs in EPOCHS:
        folder = WORK / f"finetune{epochs}"
        if not (folder / "score.json").exists():
            trainer = MACETrainer(mode="full", epochs=epochs, valid_fraction=config.valid_fraction,
                                  dtype=config.training_dtype, lr=config.finetune_lr, split_seed=SEED, threads=threads)
            started = time.perf_counter()
            model = trainer(config.model, WORK / "finetune_train.extxyz", folder / "training", SEED)
            errors = score_model_file(model, valid, threads)
            (folder / "score.json").write_text(json.dumps(
                {"force_rmse_meV_A": errors["force_rmse_meV_A"], "energy_rmse_meV_atom": errors["energy_rmse_meV_atom"],
                 "train_s": round(time.perf_counter() - started, 1)}))
        rows[epochs] = json.loads((folder / "score.json").read_text())
    best = min(rows.values(), key=lambda row: row["force_rmse_meV_A"])["force_rmse_meV_A"]
    chosen = min(e for e, row in rows.items() if row["force_rmse_meV_A"] <= 1.02 * best)
    return {"rule": "lowest validation force RMSE among full fine-tunings of 30, 60, 100 epochs; within 2 % "
                    "the fewest epochs", "n_train": len(start_train) + len(new), "n_valid": len(valid),
            "validation": f"starting calibration frames + 100 labelled {arm} pilot candidates (no test frame)",
            "epochs": rows, "chosen_epochs": chosen}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pilot", choices=("h", "finetune"), required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--finished-only", action="store_true",
                        help="h pilot: record the arms sampled so far; a choice only where the rest cannot change it")
    parser.add_argument("--arm", help="h pilot: sample and label this arm only (cached), e.g. to run arms side by side")
    args = parser.parse_args()
    if args.arm:
        config = _config()
        print(json.dumps(sample_and_label(args.arm, _arms(config)[args.arm], config, args.threads)))
        return
    record = json.loads(RESULT.read_text()) if RESULT.exists() else {}
    result = h_pilot(args.threads, args.finished_only) if args.pilot == "h" else finetune_pilot(args.threads)
    record[args.pilot] = {**result, "machine": machine_info(), "threads": args.threads}
    RESULT.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()

"""Pilot: which fine-tuning protocol should ``skmd al`` use each iteration (full, lora, multihead, scratch), and
may it train in float32? Run on a finished ``skmd al --preset ala2-medium`` run directory (read only).

The rule, fixed before any result:

1. Training data: the iteration-3 training sets (``samplers/<name>/iter03/train.extxyz``, 144 frames) of two
   samplers of that run, ``md700`` (the broadest exploration) and ``skmd`` (the narrowest), each fine-tuned
   from ``model0/model.safetensors``, one training seed (0).
2. Validation data: the union of all five samplers' ``iter03/calibration.extxyz``, duplicates removed (equal
   positions; the starting calibration frames are shared). No sampler trained on any of them. The test set
   (``test_set.extxyz``) is never read.
3. Candidates, each with mace keeping its best-validation checkpoint on the trainer's own valid_fraction
   split: ``full`` (30 epochs), ``lora`` (30 epochs, rank 4), ``scratch`` (50 epochs, 32 channels, the
   surrogate's budget), ``multihead`` (30 epochs, replaying ``start/train.extxyz``), all in float64, each the
   run's own :class:`~skmd.al.training.MACETrainer` (``builtin_trainer`` of the run's config.json, e0s from
   ``start/e0s.json``) with only the mode changed.
4. Score: per-frame force RMSE (meV/Å) and energy error (meV/atom) of each trained model and of model0 on the
   validation frames (:func:`skmd.atoms.scoring.score_model_file`); training wall time per candidate, with
   the machine (:func:`skmd.tools.machine.machine_info`).
5. Choice: the per-frame force errors of both datasets are pooled (frame i of md700 and frame i of skmd are
   separate pairs). A candidate whose paired difference to model0 (candidate − model0, median with 95 %
   bootstrap interval, :func:`skmd.tools.stats.paired_comparison`) lies above 0 is excluded. Of the rest,
   the one with the lowest pooled validation force RMSE is the leader. If the paired difference between the
   leader and a candidate with smaller total training wall time (both datasets) has a 95 % interval that
   contains 0, the cheapest such candidate is chosen instead. Energy is reported, not used to choose.
6. dtype: the chosen protocol is rerun on both datasets training in float32 (mace's ``--default_dtype``; the
   saved model is float64 as always). float32 is adopted if its paired validation force difference to
   float64 (float32 − float64, pooled) has a 95 % interval that contains 0 or lies below 0. The wall-time
   ratio float64/float32 is reported.

Trainings run one at a time with one thread. Resumable: a training whose model and ``score.json`` exist in
its folder under ``--work`` is not rerun.

    PYTHONPATH=python nice -n 5 python benchmarks/finetune_pilot.py --run /work/bench/ala2-medium --work /tmp/ftpilot
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")      # before torch: mace_run_train children inherit it
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

DATASETS = ("md700", "skmd")
SAMPLERS = ("md300", "md700", "skmd", "ubmd", "udd")
CANDIDATES = ("full", "lora", "multihead", "scratch")
ITERATION = "iter03"
SEED = 0


def read_frames(path) -> list:
    from ase.io import read  # noqa: PLC0415
    return read(str(path), index=":", format="extxyz")


def frame_key(atoms) -> bytes:
    """Identity of a frame: its atomic numbers and positions (rounded to 1e-8 Å)."""
    return atoms.numbers.tobytes() + np.round(atoms.positions, 8).tobytes()


def prepare_inputs(run: Path, work: Path) -> dict:
    """Copy the run's inputs to ``work/inputs`` and write the deduplicated validation set; returns paths."""
    from skmd.atoms.oracle import write_extxyz  # noqa: PLC0415
    inputs = work / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    paths = {"model0": inputs / "model0.safetensors", "replay": inputs / "start_train.extxyz",
             "e0s": inputs / "e0s.json", "config": inputs / "config.json", "valid": inputs / "validation.extxyz"}
    for key, source in (("model0", run / "model0/model.safetensors"), ("replay", run / "start/train.extxyz"),
                        ("e0s", run / "start/e0s.json"), ("config", run / "config.json")):
        shutil.copyfile(source, paths[key])
    for name in DATASETS:
        paths[name] = inputs / f"{name}_train.extxyz"
        shutil.copyfile(run / "samplers" / name / ITERATION / "train.extxyz", paths[name])
    unique, n_read = {}, 0
    for name in SAMPLERS:
        for atoms in read_frames(run / "samplers" / name / ITERATION / "calibration.extxyz"):
            n_read += 1
            unique.setdefault(frame_key(atoms), atoms)
    trained_on = {frame_key(a) for name in DATASETS for a in read_frames(paths[name])}
    overlap = sum(key in trained_on for key in unique)
    if overlap:
        raise ValueError(f"{overlap} validation frames are in a training set: the rule's premise fails")
    paths["valid"].unlink(missing_ok=True)           # write_extxyz appends
    write_extxyz(paths["valid"], list(unique.values()))
    paths["validation_counts"] = {"read": n_read, "unique": len(unique), "in_training_sets": overlap}
    return paths


def trainers(paths: dict) -> dict:
    """mode → the run's own MACETrainer with only the mode (and multihead's replay) changed."""
    from skmd.al.config import FIELDS, CampaignConfig  # noqa: PLC0415
    from skmd.al.training import builtin_trainer  # noqa: PLC0415
    settings = json.loads(paths["config"].read_text())
    config = CampaignConfig(**{key: value for key, value in settings.items() if key in FIELDS})
    e0s = {int(z): float(e) for z, e in json.loads(paths["e0s"].read_text()).items()}
    return {mode: builtin_trainer(dataclasses.replace(config, finetune=mode,
                                                      replay=str(paths["replay"]) if mode == "multihead" else None),
                                  e0s) for mode in CANDIDATES}


def scored(model, frames, folder: Path, extra: dict) -> dict:
    """Score ``model`` on ``frames`` and keep the result (with ``extra``) in ``folder/score.json``."""
    from skmd.atoms.scoring import score_model_file  # noqa: PLC0415
    result = {**extra, **score_model_file(model, frames, threads=1)}
    (folder / "score.tmp").write_text(json.dumps(result))
    (folder / "score.tmp").replace(folder / "score.json")
    return result


def trained_and_scored(trainer, paths: dict, dataset: str, folder: Path, frames) -> dict:
    """Train one candidate on one dataset from model0 (unless done) and score it on the validation frames."""
    if (folder / "model.safetensors").is_file() and (folder / "score.json").is_file():
        kept = json.loads((folder / "score.json").read_text())
        if kept["n_frames"] == len(frames):
            return kept                                  # scored on another validation set: rescored, not retrained
        return scored(folder / "model.safetensors", frames, folder,
                      {key: kept[key] for key in ("train_wall_s", "train_cpu_s", "dtype", "trainer")})
    print(f"training {folder.name} on {dataset} ...", flush=True)
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    model = trainer(paths["model0"], paths[dataset], folder, seed=SEED)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = scored(model, frames, folder, {"train_wall_s": wall, "train_cpu_s": cpu, "dtype": trainer.dtype,
                                            "trainer": repr(trainer)})
    print(f"  {folder.name}/{dataset}: force RMSE {result['force_rmse_meV_A']:.1f} meV/Å, {wall:.0f} s", flush=True)
    return result


def pooled(results: dict, quantity: str = "forces") -> np.ndarray:
    """Per-frame errors of both datasets, md700's frames then skmd's: (2 n_valid,)."""
    return np.concatenate([np.asarray(results[d]["per_frame"][quantity], float) for d in DATASETS])


def pooled_rmse(values) -> float:
    """RMSE over frames of per-frame RMSEs (every frame has the same number of atoms: the component RMSE)."""
    return float(np.sqrt(np.mean(np.square(values))))


def choose(scores: dict, model0: np.ndarray) -> dict:
    """Step 5 of the rule on ``scores`` (candidate → dataset → score) and model0's pooled per-frame errors."""
    from skmd.tools.stats import paired_comparison  # noqa: PLC0415
    wall = {c: sum(scores[c][d]["train_wall_s"] for d in DATASETS) for c in scores}
    rmse = {c: pooled_rmse(pooled(scores[c])) for c in scores}
    vs_model0 = {c: paired_comparison(pooled(scores[c]), model0, seed=SEED) for c in scores}
    excluded = [c for c in scores if vs_model0[c]["median_difference"]["low"] > 0]
    kept = [c for c in scores if c not in excluded]
    out = {"pooled_force_rmse_meV_A": rmse, "total_train_wall_s": wall, "vs_model0": vs_model0,
           "excluded_worse_than_model0": excluded}
    if not kept:
        return {**out, "leader": None, "chosen": None, "reason": "every candidate is significantly worse than model0"}
    leader = min(kept, key=rmse.get)
    vs_leader = {c: paired_comparison(pooled(scores[c]), pooled(scores[leader]), seed=SEED)
                 for c in kept if c != leader}
    cheaper = sorted((c for c in vs_leader if wall[c] < wall[leader]
                      and vs_leader[c]["median_difference"]["low"] <= 0 <= vs_leader[c]["median_difference"]["high"]),
                     key=wall.get)
    chosen = cheaper[0] if cheaper else leader
    reason = (f"{leader} has the lowest pooled validation force RMSE ({rmse[leader]:.1f} meV/Å)"
              + (f"; {chosen} is cheaper ({wall[chosen]:.0f} s vs {wall[leader]:.0f} s) and its paired difference "
                 f"to {leader} has a 95 % interval containing 0" if cheaper else
                 "; no cheaper candidate has a paired difference to it whose 95 % interval contains 0"))
    return {**out, "vs_leader": vs_leader, "leader": leader, "chosen": chosen, "reason": reason}


def dtype_step(chosen: str, trainer, paths: dict, work: Path, frames, scores: dict) -> dict:
    """Step 6: the chosen protocol trained in float32 on both datasets, compared with its float64 runs."""
    from skmd.tools.stats import paired_comparison  # noqa: PLC0415
    trainer32 = dataclasses.replace(trainer, dtype="float32")
    try:
        f32 = {d: trained_and_scored(trainer32, paths, d, work / d / f"{chosen}_float32", frames) for d in DATASETS}
    except RuntimeError as error:
        return {"error": str(error)[-2000:], "adopted": None}
    comparison = paired_comparison(pooled(f32), pooled(scores[chosen]), seed=SEED)
    wall64 = sum(scores[chosen][d]["train_wall_s"] for d in DATASETS)
    wall32 = sum(f32[d]["train_wall_s"] for d in DATASETS)
    return {"protocol": chosen, "per_dataset": f32, "pooled_force_rmse_meV_A": pooled_rmse(pooled(f32)),
            "float32_vs_float64": comparison, "adopted": comparison["median_difference"]["low"] <= 0,
            "wall_ratio_float64_over_float32": wall64 / wall32, "total_train_wall_s": wall32}


def _interval(comparison: dict) -> str:
    m = comparison["median_difference"]
    return f"{m['estimate']:+.1f} [{m['low']:+.1f}, {m['high']:+.1f}]"


def table(result: dict) -> str:
    """Markdown table of a finished pilot's JSON: validation errors, wall times, paired differences."""
    choice, rows = result["choice"], []
    rows.append("| model | force RMSE md700 / skmd / pooled (meV/Å) | energy RMSE md700 / skmd (meV/atom) "
                "| train wall / CPU (s, both) | − model0 (meV/Å) | − leader (meV/Å; float32 row: − float64) |")
    rows.append("|---|---|---|---|---|---|")
    cpu = {c: sum(per[d]["train_cpu_s"] for d in DATASETS) for c, per in result["candidates"].items()}
    m0 = result["model0"]
    rows.append(f"| model0 | {m0['force_rmse_meV_A']:.1f} (all) | {m0['energy_rmse_meV_atom']:.1f} (all) | – | – | – |")
    entries = [(c, result["candidates"][c], choice["vs_model0"][c], choice.get("vs_leader", {}).get(c),
                choice["total_train_wall_s"][c], choice["pooled_force_rmse_meV_A"][c]) for c in result["candidates"]]
    if "per_dataset" in result["dtype"]:
        d = result["dtype"]
        entries.append((f"{d['protocol']} float32", d["per_dataset"], None, d["float32_vs_float64"],
                        d["total_train_wall_s"], d["pooled_force_rmse_meV_A"]))
        cpu[entries[-1][0]] = sum(d["per_dataset"][k]["train_cpu_s"] for k in DATASETS)
    for name, per, vs0, vsl, wall, pooled_f in entries:
        forces = " / ".join(f"{per[k]['force_rmse_meV_A']:.1f}" for k in DATASETS)
        energy = " / ".join(f"{per[k]['energy_rmse_meV_atom']:.1f}" for k in DATASETS)
        rows.append(f"| {name} | {forces} / **{pooled_f:.1f}** | {energy} | {wall:.0f} / {cpu[name]:.0f} | "
                    f"{_interval(vs0) if vs0 else '–'} | {_interval(vsl) if vsl else '–'} |")
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a finished skmd al --preset ala2-medium run (read only)")
    parser.add_argument("--work", type=Path, help="scratch folder (resumable)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/finetune_pilot.json"))
    parser.add_argument("--table", action="store_true", help="print the table of the --out JSON and exit")
    args = parser.parse_args(argv)
    if args.table:
        print(table(json.loads(args.out.read_text())))
        return
    if args.run is None or args.work is None:
        parser.error("--run and --work are needed (or --table)")
    missing = [p for p in [args.run / "model0/model.safetensors", args.run / "start/train.extxyz"]
               + [args.run / "samplers" / s / ITERATION / "calibration.extxyz" for s in SAMPLERS] if not p.is_file()]
    if missing:
        parser.error(f"{args.run} is not a finished ala2-medium run: missing {missing[0]}")
    from skmd.tools.machine import machine_info, source_commit  # noqa: PLC0415
    paths = prepare_inputs(args.run, args.work)
    frames, modes = read_frames(paths["valid"]), trainers(paths)
    (args.work / "model0").mkdir(exist_ok=True)
    model0_file = args.work / "model0" / "score.json"
    model0 = json.loads(model0_file.read_text()) if model0_file.is_file() else {}
    if model0.get("n_frames") != len(frames):
        model0 = scored(paths["model0"], frames, args.work / "model0", {})
    scores = {c: {d: trained_and_scored(modes[c], paths, d, args.work / d / c, frames) for d in DATASETS}
              for c in CANDIDATES}
    choice = choose(scores, np.tile(np.asarray(model0["per_frame"]["forces"], float), len(DATASETS)))
    dtype = dtype_step(choice["chosen"], modes[choice["chosen"]], paths, args.work, frames, scores) \
        if choice["chosen"] else {"skipped": "no protocol chosen"}
    commit = source_commit(Path(__file__).parent)
    result = {"rule": __doc__, "run": str(args.run), "validation_frames": paths["validation_counts"],
              "model0": model0, "candidates": scores, "choice": choice, "dtype": dtype,
              "machine": machine_info(), "commit": commit}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"chosen: {choice['chosen']} ({choice['reason']}); float32 adopted: {dtype.get('adopted')}")


if __name__ == "__main__":
    main()

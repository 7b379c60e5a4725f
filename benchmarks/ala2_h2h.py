"""The ala2-h2h head-to-head, one seed at a time, with its controls (issue #30, docs/ala2-h2h-protocol.md).

``--seed N``: the ``ala2-h2h`` campaign with seed N into benchmarks/work/ala2_h2h/seed<N> (it resumes), then
its controls (:mod:`skmd.al.controls`, ``--workers`` of them at a time): no new labels, the ideal-data model (the shipped pool of thermal
GFN2-xTB frames from every test-set basin, taken evenly, ``select`` per iteration, split and trained as a
sampler's labels), and every sampler's final model retrained with a second training seed. Writes
benchmarks/results/ala2_h2h/seed<N>.json: per sampler and control, the test errors after every iteration
with the labels behind them.

``--summary``: the seeds written so far, compared at the seed level (``skmd.al.seed_tests``: paired t and
Wilcoxon over seeds, Holm over the four primary comparisons), and the data-efficiency curve: the final
force RMSE against labels per sampler and the labels each needs to come within 1.25x of the ideal-data
model's error at equal labels; each sampler's final force RMSE over the ideal-data model's, the share of the
ideal-data model's gain over no new labels that its labels bought, the training
noise, the oracle failures, the 1.5x bar's reading and the protocol's seed count (:mod:`h2h_report`).
Writes benchmarks/results/ala2_h2h/summary.json and summary.md.
``--seed N --save-state``: the seed's run directory into benchmarks/state/ala2_h2h/seed<N> (in git, without
the models nothing reads again, :mod:`h2h_state`); ``--seed N`` puts it back first when the run directory is
missing, so a seed spans sessions.

Run: .venv/bin/python benchmarks/ala2_h2h.py --seed 0 --workers 2
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mace  # noqa: F401  mace before e3nn
from ase.io import read
from skmd.al import Campaign, make_config
from skmd.al.controls import labels_chain, retrained
from skmd.al.presets import read_preset
from skmd.al.run_dir import RunDir
from skmd.al.seed_tests import pairs_block
from skmd.studies.ala2_h2h import evenly
from skmd.tools.machine import machine_info
from skmd.tools.pool import process_pool

from h2h_report import (FORCE, against_ideal_ratios, ideal_bar, oracle_failures, report, seeds_needed, share_of_ideal_gain,
                        training_noise)
from h2h_state import restore_state, save_state

HERE = Path(__file__).resolve().parent
WORK, RESULTS, STATE = (HERE / part / "ala2_h2h" for part in ("work", "results", "state"))
IDEAL = HERE.parent / "python" / "skmd" / "data" / "ala2_h2h" / "ideal.extxyz"
#: the primary comparisons of the protocol (each SKMD arm against each MD temperature)
PRIMARY = [("skmd", "md300"), ("skmd", "md700"), ("skmd1.5", "md300"), ("skmd1.5", "md700")]
KEYS = (FORCE, "energy_rmse_meV_atom")
FIGURE = HERE.parent / "docs" / "figures" / "ala2_h2h_efficiency.png"


def run_seed(seed: int, workers: int) -> dict:
    if restore_state(WORK / f"seed{seed}", STATE / f"seed{seed}"):
        print(f"seed {seed}: resuming from {STATE / f'seed{seed}'}")
    config = make_config(read_preset("ala2-h2h"), {"out": str(WORK / f"seed{seed}"), "seed": seed,
                                                   "workers": workers})
    pool = process_pool(workers)
    try:
        campaign = Campaign(config, executor=pool)
        results = campaign.run()
    finally:
        pool.shutdown()
    run, test = RunDir(campaign.out), campaign.test_frames     # the shipped test set, read and checked once
    ordered = evenly(read(IDEAL, index=":"), config.select * config.iterations)
    batches = [ordered[k * config.select:(k + 1) * config.select] for k in range(config.iterations)]
    config, trainer = campaign.config, campaign.trainer
    with ThreadPoolExecutor(workers) as threads:     # each fine-tuning is its own mace_run_train process
        chains = {"ideal": threads.submit(labels_chain, run, config, trainer, "ideal", batches, test),
                  "no_new_labels": threads.submit(labels_chain, run, config, trainer, "no-new-labels", [], test)}
        again = {name: threads.submit(retrained, run, config, trainer, name, test) for name in results["samplers"]}
        controls = {name: chains[name].result() for name in ("no_new_labels", "ideal")}
        retrains = {name: future.result() for name, future in again.items()}
    record = {"seed": seed, "initial": {k: results["initial"][k] for k in KEYS},
              "samplers": {name: [{"labels": m["n_labelled"], "n_train": m["n_train"], "n_failed": m["n_failed"],
                                   **{k: m[k] for k in KEYS}} for m in r["iterations"]]
                           for name, r in results["samplers"].items()},
              "controls": {name: [{"labels": m["n_new_labels"], "n_train": m["n_train"], **{k: m[k] for k in KEYS}}
                                  for m in chain] for name, chain in controls.items()},
              "retrained_second_seed": {name: {k: m[k] for k in KEYS} for name, m in retrains.items()},
              "wall_s": results["wall_s"], "machine": machine_info(), "workers": workers,
              "threads_per_task": config.threads}     # the campaign's; machine_info's is this process's default
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"seed{seed}.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def curve(rows: list, cumulative: bool) -> list:
    """[(labels so far, force RMSE)] of one seed's iterations; sampler rows count each iteration's labels,
    control rows the labels so far already."""
    total, points = 0, []
    for row in rows:
        total = total + row["labels"] if cumulative else row["labels"]
        points.append((total, row["force_rmse_meV_A"]))
    return points


def labels_to_reach(points: list, ideal: list) -> int | None:
    """The labels after which a mean curve first comes within 1.25x of the ideal-data model's force RMSE at the
    same iteration (equal labels); None if it never does."""
    for (labels, rmse), (_, best) in zip(points, ideal):
        if rmse <= 1.25 * best:
            return labels
    return None


def summary() -> dict:
    seeds = [json.loads(path.read_text()) for path in sorted(RESULTS.glob("seed*.json"))]
    if len(seeds) < 2:
        raise SystemExit(f"{len(seeds)} seeds written; the seed-level tests need at least 2")
    arms = {**{name: ("samplers", name, True) for name in seeds[0]["samplers"]},
            **{f"control:{name}": ("controls", name, False) for name in seeds[0]["controls"]}}
    per_seed = {arm: [curve(s[part][name], cumulative) for s in seeds] for arm, (part, name, cumulative) in arms.items()}
    mean_curves = {arm: [(points[0][k][0], sum(p[k][1] for p in points) / len(points)) for k in range(len(points[0]))]
                   for arm, points in per_seed.items()}
    final = {arm: [points[-1][1] for points in curves] for arm, curves in per_seed.items()}
    reach = {arm: labels_to_reach(points, mean_curves["control:ideal"]) for arm, points in mean_curves.items()
             if not arm.startswith("control:")}
    primary, ratios = pairs_block(final, PRIMARY, target=15.0), against_ideal_ratios(seeds)
    result = {"seeds": [s["seed"] for s in seeds], "final_force_rmse_meV_A": final,
              "primary": primary, "seeds_needed": seeds_needed(primary),
              "against_ideal": pairs_block(final, [(name, "control:ideal") for name in seeds[0]["samplers"]]),
              "ratio_to_ideal": ratios, "share_of_ideal_gain": share_of_ideal_gain(seeds),
              "ideal_bar": ideal_bar(ratios),
              "training_noise": training_noise(seeds), "oracle_failures": oracle_failures(seeds),
              "data_efficiency": {"mean_curves": mean_curves, "labels_within_1.25x_of_ideal": reach}}
    (RESULTS / "summary.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    (RESULTS / "summary.md").write_text(report(result))
    efficiency_figure(per_seed, FIGURE, initial=sum(s["initial"][FORCE] for s in seeds) / len(seeds))
    return result


def efficiency_figure(per_seed: dict, path: Path, initial: float) -> None:
    """Force RMSE on the test set against new labels: every seed thin, the mean thick, the ideal-data control
    dashed; the starting model (``initial``, meV/Å) and the no-new-labels control, which gain no labels, are
    horizontal lines (the latter at its final mean)."""
    import matplotlib  # lazy: only the summary draws
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8.6, 4.2))
    ax.axhline(initial, color="0.5", ls=":", lw=1.2, label="starting model")
    for index, (arm, curves) in enumerate(per_seed.items()):
        colour = f"C{index}"
        if all(labels == 0 for c in curves for labels, _ in c):       # no labels to plot against
            ax.axhline(sum(c[-1][1] for c in curves) / len(curves), color=colour, ls="-.", lw=1.5,
                       label=f"{arm}, final ({len(curves)} seeds)")
            continue
        style = "--" if arm.startswith("control:") else "-"
        for points in curves:
            ax.plot(*zip(*points), style, color=colour, lw=0.6, alpha=0.35)
        mean = [(curves[0][k][0], sum(c[k][1] for c in curves) / len(curves)) for k in range(len(curves[0]))]
        ax.plot(*zip(*mean), style, color=colour, lw=2, marker="o", label=f"{arm} ({len(curves)} seeds)")
    ax.set_xlabel("new labels (each sampler's, or the control's)")
    ax.set_ylabel("test force RMSE (meV/Å)")
    ax.set_title("ala2-h2h: force error against labels")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))     # beside the axes, off the curves
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def keep_log(log: Path, kept: Path) -> None:
    """Append to ``kept`` the part of the work log not kept yet (the byte count kept so far is in
    ``<log>.kept``, so saving twice in a session, or in a session whose work folder survived, adds each line once)."""
    if not log.exists():
        return
    marker = log.with_name(log.name + ".kept")
    done = int(marker.read_text()) if marker.exists() else 0
    text = log.read_bytes()
    if len(text) < done:        # a new log under the same name: keep it whole
        done = 0
    if len(text) > done:
        with open(kept, "ab") as out:
            out.write(f"--- the log of the session saved at {time.strftime('%Y-%m-%dT%H:%M:%S')} ---\n".encode())
            out.write(text[done:])
    marker.write_text(str(len(text)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--summary", action="store_true")
    parser.add_argument("--save-state", action="store_true")
    args = parser.parse_args()
    if args.save_state and args.seed is not None:
        work = WORK / f"seed{args.seed}"        # finished: the campaign and its controls (seed<N>.json, written last)
        files = save_state(work, STATE / f"seed{args.seed}",
                           finished=(work / "results.json").exists() and (RESULTS / f"seed{args.seed}.json").exists())
        keep_log(WORK / f"seed{args.seed}.log", STATE / f"seed{args.seed}.log")
        print(f"seed {args.seed}: {len(files)} files kept in {STATE / f'seed{args.seed}'}")
    elif args.summary:
        print(json.dumps(summary(), indent=1))
    elif args.seed is not None:
        print(json.dumps(run_seed(args.seed, args.workers), indent=1)[:4000])
    else:
        parser.error("give --seed N or --summary")


if __name__ == "__main__":
    main()

"""The alanine-dipeptide head-to-head at ``--medium`` scale, timed stage by stage (issue #11).

Runs (or resumes) ``skmd ala2 --medium`` in ``runs/ala2-medium`` with a pool of ``--workers``
processes (default 2, one thread each), then writes benchmarks/results/ala2_medium.json:

- ``wall_s_study``: the whole run; ``stages``: surrogate (oracle MD, labels, training), UDD
  committee training, initial ensemble, then the wall time of each phase of every iteration
  (sampling side by side on the pool, selection and labelling, fine-tuning side by side on
  ``--workers`` threads, test-set scoring) and sums over samplers of the task times (sampling, of
  it the SKMD Jacobians, labelling, fine-tuning);
- ``samplers``: per sampler and iteration, the test RMSEs (whole set and per basin) and the
  Ramachandran coverage; ``comparisons_final_force`` / ``comparisons_final_energy``: every pair of
  the surrogate and the samplers' final models on the per-frame force RMSE / absolute per-atom
  energy error, as the study computes them (``skmd.studies.ala2.scoring.compare_final``: paired
  bootstrap over test frames within basins, Wilcoxon, Holm). One run, so these intervals speak to
  the test set's sampling error, not to run-to-run variation;
- ``machine``: CPU model, cores, threads and load average.

``coverage_final``: each sampler's accumulated coverage and every pair's difference, with ranges
from subsampling half the walks (coverage counts distinct cells, so it is not bootstrapped).

Run: .venv/bin/python benchmarks/ala2_medium.py [--workers 2] [--out runs/ala2-medium]
Print the tables: .venv/bin/python benchmarks/ala2_medium.py --table
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULT = HERE / "results" / "ala2_medium.json"


def stage_breakdown(results: dict, out: Path) -> dict:
    """Seconds per stage. Before the loop: the study's own timers. In the loop, wall times of each
    phase of every iteration, read off the checkpoint files' modification times (sampling ends when
    the last candidates file is written, labelling with the last training file, fine-tuning with
    the last model, scoring with the last metrics.json); plus CPU-side sums over samplers."""
    iterations = [h for r in results["samplers"].values() for h in r["iterations"]]
    folders = out / "samplers"

    def last(k: int, pattern: str) -> float:
        return max(path.stat().st_mtime for path in folders.glob(f"*/iter{k:02d}/{pattern}"))

    phases = []
    for k in range(1, results["config"]["iterations"] + 1):
        begin = (out / "init" / "ensemble.extxyz").stat().st_mtime if k == 1 else last(k - 1, "metrics.json")
        marks = [begin, last(k, "candidates.extxyz"), last(k, "train.extxyz"), last(k, "*.safetensors"),
                 last(k, "metrics.json")]
        phases.append(dict(zip(("sampling_s", "selection_labelling_s", "finetuning_s", "scoring_s"),
                               np.diff(marks).tolist())))
    walls = {f"{key[:-2]}_wall_s": sum(p[key] for p in phases) for key in phases[0]}
    return {**results["timing"], **walls, "iterations": phases,
            "sampling_task_s_sum": sum(h["sample_s"] for h in iterations),
            "jacobians_s_sum": sum(h["freeze_s"] for h in iterations),
            "labelling_s_sum": sum(h["label_s"] for h in iterations),
            "finetuning_task_s_sum": sum(h["finetune_s"] for h in iterations)}


def coverage_intervals(out: Path, names: list, iterations: int, block: int, seed: int = 0, n_draws: int = 2000) -> dict:
    """Accumulated Ramachandran coverage of each sampler, and every pair compared on half the walks.

    A sampler's trace holds (φ, ψ) every 10 steps of each walk, walk after walk, so blocks of
    ``block`` consecutive entries are its walks. Coverage counts distinct cells, which resampling
    with replacement biases low, so the spread comes from subsampling without replacement: each
    draw keeps a random half of every iteration's walks. Per sampler: the coverage of all walks and
    the 95 % range of half-sample coverage; per pair: the 95 % range of the half-sample difference
    (the two samplers drawn independently), significant when it excludes 0.
    """
    from skmd.studies.ala2_metrics import visited_cells
    rng = np.random.default_rng(seed)
    walks = {}
    for name in names:
        walks[name] = []
        for k in range(1, iterations + 1):
            trace = np.asarray(json.loads((out / "samplers" / name / f"iter{k:02d}" / "sampling.json").read_text())
                               ["phi_psi_trace"], float).reshape(-1, 2)
            walks[name].append([trace[i:i + block] for i in range(0, len(trace), block)])

    def half(per_iteration) -> float:
        kept = [w for blocks in per_iteration for w in (blocks[j] for j in
                rng.choice(len(blocks), len(blocks) // 2, replace=False))]
        return float(visited_cells(np.concatenate(kept)).mean())

    draws = {name: np.array([half(walks[name]) for _ in range(n_draws)]) for name in names}
    full = {name: float(visited_cells(np.concatenate([w for blocks in walks[name] for w in blocks])).mean())
            for name in names}
    summary = {"method": "half of each iteration's walks, without replacement", "draws": n_draws,
               "per_sampler": {n: {"coverage": full[n], "half_sample_ci95": np.percentile(draws[n], [2.5, 97.5]).tolist()}
                               for n in names}, "pairs": {}}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            low, high = np.percentile(draws[a] - draws[b], [2.5, 97.5])
            summary["pairs"][f"{a} vs {b}"] = {"difference": full[a] - full[b],
                                               "half_sample_difference_ci95": [float(low), float(high)],
                                               "significant": bool(low > 0 or high < 0)}
    return summary


def run(out: Path, workers: int) -> dict:
    from skmd.cli.ala2 import config_from_args
    from skmd.cli.main import build_parser
    from skmd.studies.ala2 import Study
    from skmd.tools.machine import machine_info
    from skmd.tools.threads import set_threads
    set_threads(1)
    args = build_parser().parse_args(["ala2", "--medium", "--out", str(out), "--workers", str(workers)])
    config = config_from_args(args)
    fresh = not out.exists()
    started = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = Study(config, out, executor=pool, threads=1, jobs=workers).run()
    wall = time.perf_counter() - started
    names = list(results["samplers"])
    summary = {"command": f"skmd ala2 --medium --workers {workers}", "wall_s_this_call": wall,
               "wall_s_study": results["wall_s"], "stages": stage_breakdown(results, out), "machine": machine_info(),
               "oracle_calls": results["oracle_calls"],
               "comparisons_final_force": results["comparisons_final"]["forces"],
               "comparisons_final_energy": results["comparisons_final"]["energy"],
               "coverage_final": coverage_intervals(out, names, config.iterations, config.steps // config.trace_interval),
               "samplers": {name: {key: r[key] for key in ("energy_rmse", "force_rmse", "coverage",
                                                          "coverage_cumulative", "trace_frames")}
                            | {"by_basin": [h["by_basin"] for h in r["iterations"]],
                               "dropped_moves": [h["dropped_moves"] for h in r["iterations"]]}
                            for name, r in results["samplers"].items()},
               "initial": results["initial_rmse"], "config": results["config"]}
    if not fresh and RESULT.is_file():   # a resumed study: keep the timings of the run that did the work
        earlier = json.loads(RESULT.read_text())
        if earlier.get("config") == json.loads(json.dumps(summary["config"])):
            for key in ("wall_s_this_call", "wall_s_study", "machine"):
                summary[key] = earlier[key]
            for key in ("surrogate_s", "committee_s", "initial_ensemble_s", "test_set_s"):
                summary["stages"][key] = earlier["stages"][key]
    RESULT.write_text(json.dumps(summary, indent=2))
    return summary


def pair_table(comparison: dict, quantity: str, unit: str, digits: int) -> list:
    """Markdown rows of every pair of a :func:`comparisons` result."""
    lines = ["", f"| a vs b | median per-frame {quantity} difference a − b ({unit}) [95 % CI] | p (Holm) | "
             "significant |", "|---|---|---|---|"]
    for pair, row in comparison["pairs"].items():
        d = row["median_difference"]
        lines.append(f"| {pair} | {d['estimate']:.{digits}f} [{d['low']:.{digits}f}, {d['high']:.{digits}f}] | "
                     f"{row['p_holm']:.2g} | {'yes' if row['significant'] else 'no'} |")
    return lines


def table(summary: dict) -> str:
    basins = list(next(iter(summary["samplers"].values()))["by_basin"][-1])
    lines = ["| sampler | force RMSE (meV/Å) per iteration | final, per basin: " + ", ".join(basins) +
             " | φ/ψ cells visited, cumulative (%) |", "|---|---|---|---|"]
    for name, r in summary["samplers"].items():
        curve = ", ".join(f"{1e3 * v:.0f}" for v in r["force_rmse"])
        final = ", ".join(f"{r['by_basin'][-1][b]['forces_rmse_meV_per_A']:.0f}" for b in basins)
        cover = ", ".join(f"{100 * v:.2f}" for v in r["coverage_cumulative"])
        lines.append(f"| {name} | {curve} | {final} | {cover} |")
    lines += pair_table(summary["comparisons_final_force"], "force-RMSE", "meV/Å", 1)
    lines += pair_table(summary["comparisons_final_energy"], "|energy error|", "meV/atom", 2)
    coverage = summary["coverage_final"]
    lines += ["", "| sampler | φ/ψ cells visited after the last iteration (%) | half the walks: 95 % range (%) |",
              "|---|---|---|"]
    for name, row in coverage["per_sampler"].items():
        low, high = row["half_sample_ci95"]
        lines.append(f"| {name} | {100 * row['coverage']:.2f} | [{100 * low:.2f}, {100 * high:.2f}] |")
    lines += ["", "| a vs b | coverage difference a − b, all walks (points) | half the walks: 95 % range | significant |",
              "|---|---|---|---|"]
    for pair, row in coverage["pairs"].items():
        low, high = row["half_sample_difference_ci95"]
        lines.append(f"| {pair} | {100 * row['difference']:.2f} | [{100 * low:.2f}, {100 * high:.2f}] | "
                     f"{'yes' if row['significant'] else 'no'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="runs/ala2-medium")
    parser.add_argument("--table", action="store_true", help="print the tables of the saved JSON and stop")
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(RESULT.read_text())))
        return
    summary = run(Path(args.out), args.workers)
    print(json.dumps(summary["stages"], indent=2))
    print(table(summary))


if __name__ == "__main__":
    main()

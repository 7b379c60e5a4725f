"""The alanine-dipeptide head-to-head as a preset of the campaign: ``skmd al --preset ala2-medium``.

Runs (or resumes) the command in a subprocess with ``--workers`` processes (default 2, one thread each)
and writes benchmarks/results/al_ala2_medium.json:

- ``wall_s``: the whole command (every invocation, resumes included); ``start_s``: starting labels,
  surrogate and UDD committee; ``iterations``: per iteration the seconds of sampling, labelling,
  fine-tuning and scoring summed over the samplers' jobs (see :func:`iteration_times`), and their shares;
- ``samplers``: per sampler, the test RMSEs per iteration (energy in meV/atom, forces in meV/Å; iteration
  0 is the surrogate), the Ramachandran coverage (per iteration, cumulative, per walk with its interval)
  and the dropped walks;
- ``comparisons_final``: every pair of final models (and the surrogate) on per-test-frame errors
  (paired bootstrap within basins, Wilcoxon, Holm), as ``results.json`` has them; one run, so these
  intervals speak to the test set's sampling error, not to run-to-run variation;
- ``coverage_pairs``: every pair's difference of cumulative coverage, with the 95 % range from
  subsampling half the walks of each iteration 200 times (coverage counts distinct cells, so it is not
  bootstrapped); ``machine``: CPU model, cores, threads and load average.

Run: .venv/bin/python benchmarks/al_ala2_medium.py [--workers 2] [--out runs/ala2-medium] [--result JSON] [--table]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULT = HERE / "results" / "al_ala2_medium.json"


def iteration_times(results: dict) -> list:
    """Per iteration: seconds of each stage summed over the samplers' jobs (each sampler's walks, labels,
    trainings and scoring), and their shares. Runs before the chains (commits before 9129762) also have
    ``iteration_sample_s``, the wall time of the shared sampling stage, used for sampling there; with
    chains the stages of different samplers overlap, so these sums exceed the wall time."""
    rows = []
    for k in range(results["config"]["iterations"]):
        metrics = [r["iterations"][k] for r in results["samplers"].values()]
        staged = "iteration_sample_s" in metrics[0]
        seconds = {"sample_s": metrics[0]["iteration_sample_s"] if staged else sum(m["sample_s"] for m in metrics),
                   "label_s": sum(m["label_s"] for m in metrics),
                   "train_s": sum(m["train_s"] for m in metrics),
                   "score_s": metrics[0]["score_s"] if staged else sum(m["score_s"] for m in metrics)}
        total = sum(seconds.values())
        rows.append({**seconds, "share": {key[:-2]: round(value / total, 3) for key, value in seconds.items()}})
    return rows


def coverage_pairs(out: Path, names: list, iterations: int, seed: int = 0, draws: int = 200) -> dict:
    """Cumulative φ/ψ coverage of each sampler, and every pair's difference with a half-the-walks range."""
    from skmd.atoms.alanine import visited_cells
    from skmd.atoms.observers import per_walk
    walks = {name: [per_walk(json.loads((out / "samplers" / name / f"iter{k:02d}" / "sampling.json")
                                        .read_text())["trace"]) for k in range(1, iterations + 1)]
             for name in names}
    rng = np.random.default_rng(seed)

    def coverage(name, keep=None) -> float:
        cells = np.zeros((36, 36), bool)
        for k, per_iteration in enumerate(walks[name]):
            chosen = per_iteration if keep is None else [per_iteration[i] for i in keep[k]]
            for walk in chosen:
                cells |= visited_cells(walk)
        return float(cells.mean())

    full = {name: coverage(name) for name in names}
    samples = {name: [] for name in names}
    for _ in range(draws):
        for name in names:          # each sampler's own walks (dropped walks make the counts differ)
            keep = [rng.choice(len(w), len(w) // 2, replace=False) for w in walks[name]]
            samples[name].append(coverage(name, keep))
    pairs = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            low, high = np.percentile(np.subtract(samples[a], samples[b]), [2.5, 97.5])
            pairs[f"{a} vs {b}"] = {"difference": full[a] - full[b], "half_walks_range95": [float(low), float(high)],
                                    "significant": bool(low > 0 or high < 0)}
    return {"coverage": full, "pairs": pairs}


def run(out: Path, workers: int, campaign: bool = True, result: Path = RESULT) -> dict:
    """Run (or resume) the campaign unless ``campaign`` is False, then summarise ``out/results.json``."""
    from skmd.tools.machine import machine_info
    command = [sys.executable, "-m", "skmd.cli.main", "al", "--preset", "ala2-medium", "--workers", str(workers),
               "--out", str(out)]
    wall = None
    if campaign:
        started = time.perf_counter()
        done = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
        if done.returncode != 0:
            raise SystemExit(f"the campaign failed with exit code {done.returncode}")
        wall = time.perf_counter() - started
    results = json.loads((out / "results.json").read_text())
    names = list(results["samplers"])
    summary = {
        "command": " ".join(["skmd", *command[3:]]), "wall_s_this_call": wall, "wall_s": results["wall_s"],
        "invocations": results["invocations"], "start_s": results["timing"].get("start_s"),
        "iterations": iteration_times(results), "machine": machine_info(),
        "run": {"workers": workers, "threads_per_process": 1, "OMP_NUM_THREADS": "1",
                "machine_recorded": "during the run" if campaign else "when summarising, after the run"},
        "oracle_calls": results["oracle_calls"],
        "initial": results["initial"], "units": results["units"],
        "samplers": {name: {"energy_rmse_meV_atom": [results["initial"]["energy_rmse_meV_atom"]] +
                            [m["energy_rmse_meV_atom"] for m in r["iterations"]],
                            "force_rmse_meV_A": [results["initial"]["force_rmse_meV_A"]] +
                            [m["force_rmse_meV_A"] for m in r["iterations"]],
                            "dropped": [m["dropped"] for m in r["iterations"]], "visited": r.get("visited")}
                     for name, r in results["samplers"].items()},
        "comparisons_final": results["comparisons_final"],
        "coverage_pairs": coverage_pairs(out, names, results["config"]["iterations"]),
        "config": results["config"]}
    from skmd.tools.machine import source_commit
    summary["commit"] = source_commit(HERE)
    result.write_text(json.dumps(summary, indent=2))
    return summary


def table(summary: dict) -> str:
    """Markdown: curves, coverage and the significant pairs."""
    lines = ["| sampler | force RMSE (meV/Å) per iteration | energy RMSE (meV/atom) per iteration | "
             "φ/ψ coverage, cumulative (%) |", "|---|---|---|---|"]
    for name, r in summary["samplers"].items():
        cover = ", ".join(f"{100 * v:.2f}" for v in (r["visited"] or {}).get("coverage_cumulative", []))
        lines.append(f"| {name} | {', '.join(f'{v:.1f}' for v in r['force_rmse_meV_A'])} | "
                     f"{', '.join(f'{v:.2f}' for v in r['energy_rmse_meV_atom'])} | {cover} |")
    for quantity, block in summary["comparisons_final"].items():
        lines += ["", f"| {quantity}: a vs b | median difference a − b [95 % CI] | p (Holm) | significant |",
                  "|---|---|---|---|"]
        for pair, row in block["pairs"].items():
            d = row["median_difference"]
            lines.append(f"| {pair} | {d['estimate']:.2f} [{d['low']:.2f}, {d['high']:.2f}] | {row['p_holm']:.2g} | "
                         f"{'yes' if row['significant'] else 'no'} |")
    lines += ["", "| coverage: a vs b | difference (points) | half the walks: 95 % range | significant |",
              "|---|---|---|---|"]
    for pair, row in summary["coverage_pairs"]["pairs"].items():
        low, high = row["half_walks_range95"]
        lines.append(f"| {pair} | {100 * row['difference']:.2f} | [{100 * low:.2f}, {100 * high:.2f}] | "
                     f"{'yes' if row['significant'] else 'no'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="runs/ala2-medium")
    parser.add_argument("--result", type=Path, default=RESULT, help="the JSON to write (default: %(default)s)")
    parser.add_argument("--table", action="store_true", help="print the tables of the saved JSON and stop")
    parser.add_argument("--summarize-only", action="store_true",
                        help="write the JSON from a finished run in --out without running the command")
    args = parser.parse_args()
    summary = json.loads(args.result.read_text()) if args.table else \
        run(Path(args.out), args.workers, campaign=not args.summarize_only, result=args.result)
    print(table(summary))


if __name__ == "__main__":
    main()

"""The full ``skmd mb-al`` with three seeds (and the full ``skmd mb-w2``): run, then pool the statistics.

Each seed is one complete study (50 trials × 4 samplers × 16 iterations) with its own initial data, test set
and noise, run one at a time as ``skmd mb-al --seed S --backend numpy`` with OMP_NUM_THREADS=1. A run whose
``results.json`` already exists under ``--runs`` is reused, not rerun (``--rerun`` forces it).

Pooling: trials of different seeds are independent, and within a seed the samplers are paired by trial, so
the 3 × 50 paired differences are pooled: the Wilcoxon signed-rank test runs on all 150, and the bootstrap
resamples trials within each seed (stratified), so every resample keeps 50 trials per seed. Per-seed and
combined statistics are computed by the same function ``skmd mb-al`` calls
(:func:`skmd.studies.mueller_brown.al_statistics`).

Run: ``OMP_NUM_THREADS=1 python benchmarks/mb_al_seeds.py`` → ``benchmarks/results/mb_al_seeds.json``,
``benchmarks/results/mb_w2_full.json`` and ``docs/figures/mb_al_seeds.png`` (the studies' default amplitude,
which meets the fidelity rule). ``--amplitude 300 --tau 3`` runs the exploration setting instead; its files
carry the suffix ``_h300`` (runs in ``runs/mb-al-seeds-h300``, ``runs/mb-w2-full-h300``).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from skmd.studies import mueller_brown as mbs
from skmd.tools.machine import machine_info, source_commit
from skmd.tools.stats import bootstrap_interval

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2)
SKMD_CLI = [sys.executable, "-m", "skmd.cli.main"]


def run_command(command: str, seed: int, out: Path, extra=()) -> dict:
    """Run one full study in a subprocess (single-threaded, ``extra`` CLI flags); return wall time and
    machine info."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    before = machine_info()
    started = time.perf_counter()
    subprocess.run(SKMD_CLI + [command, "--seed", str(seed), "--backend", "numpy", "--no-progress", "--out", str(out),
                    *extra],
                   check=True, env=env, cwd=ROOT)
    return {"wall_s": time.perf_counter() - started, "machine_before": before, "machine_after": machine_info()}


def recorded_run(out: Path) -> dict | None:
    """Wall time, peak RSS and load of a run made by the shell chain (``run.log`` and GNU time's ``time.txt``)."""
    log, timing = out / "run.log", out / "time.txt"
    if not (log.exists() and timing.exists()):
        return None
    text = timing.read_text()
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    cpu = [float(v) for v in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", text)]
    seconds = sum(float(p) * 60 ** k for k, p in enumerate(reversed(wall.group(1).split(":")))) if wall else None
    return {"wall_s": seconds, "cpu_s": sum(cpu) if cpu else None,
            "peak_rss_mb": int(rss.group(1)) / 1024 if rss else None, "log": log.read_text().strip().splitlines()}


def ensure_run(command: str, seed: int, out: Path, rerun: bool, extra=()) -> tuple[dict, dict]:
    if rerun or not (out / "results.json").exists():
        timing = run_command(command, seed, out, extra)
    else:
        timing = recorded_run(out) or {"note": "results reused; no timing recorded"}
    return json.loads((out / "results.json").read_text()), timing


def final_medians(samplers: dict) -> dict:
    """Median final energy and force RMSE per sampler with 95 % intervals (shortcut for the tables)."""
    return {name: {key: bootstrap_interval(np.asarray(r[key])[:, -1], np.median, seed=0)
                   for key in ("energy_rmse", "force_rmse")} for name, r in samplers.items()}


def pooled_samplers(results_by_seed: dict) -> tuple[dict, np.ndarray]:
    """Concatenate every sampler's curves over seeds; return them and the seed label of each trial."""
    names = list(next(iter(results_by_seed.values()))["samplers"])
    pooled = {name: {key: np.concatenate([np.asarray(r["samplers"][name][key]) for r in results_by_seed.values()])
                     for key in ("energy_rmse", "force_rmse")} for name in names}
    strata = np.concatenate([np.full(len(r["samplers"][names[0]]["force_rmse"]), seed)
                             for seed, r in results_by_seed.items()])
    return pooled, strata


def learning_verdicts(sampler: dict) -> dict | None:
    """How many iterations' learning checks gave each verdict, per quantity (None for runs without checks)."""
    checks = sampler.get("learning_check")
    if checks is None:
        return None
    counts = {}
    for check in checks:
        for quantity, c in check.items():
            counts.setdefault(quantity, {}).setdefault(c["verdict"], 0)
            counts[quantity][c["verdict"]] += 1
    return counts


def al_section(runs: Path, rerun: bool, seeds=SEEDS, aggregate_only: bool = False, extra=()) -> dict:
    per_seed, timings = {}, {}
    for seed in seeds:
        out = runs / f"seed{seed}"
        if aggregate_only and not (out / "results.json").exists():
            print(f"seed {seed}: no {out / 'results.json'} yet; left out of this aggregate")
            continue
        results, timings[seed] = ensure_run("mb-al", seed, out, rerun, extra)
        kT = results["config"]["kT"]
        statistics = mbs.al_statistics(results["samplers"], kT, seed=seed)
        if results.get("statistics") not in (None, json.loads(json.dumps(statistics))):
            raise RuntimeError(f"seed {seed}: results.json statistics differ from a recomputation")
        results["statistics"] = statistics
        per_seed[seed] = results
    pooled, strata = pooled_samplers(per_seed)
    if not per_seed:
        raise RuntimeError(f"no finished mb-al run under {runs}")
    return {"seeds": list(per_seed), "config": next(iter(per_seed.values()))["config"],
            "per_seed": {seed: {"final_medians": final_medians(r["samplers"]), "statistics": r["statistics"],
                                "wall_s_per_sampler": {n: s["wall_s"] for n, s in r["samplers"].items()},
                                "n_acquired_mean": {n: float(np.mean(s["n_acquired"]))
                                                    for n, s in r["samplers"].items()},
                                "n_diverged": {n: s["n_diverged"] for n, s in r["samplers"].items()},
                                "acquired_nearest_minimum": {n: s.get("acquired_nearest_minimum")
                                                             for n, s in r["samplers"].items()},
                                "learning_check_verdicts": {n: learning_verdicts(s) for n, s in r["samplers"].items()},
                                "run": timings[seed]} for seed, r in per_seed.items()},
            "combined": {"pooling": f"{len(per_seed)} seeds × 50 paired trials; Wilcoxon signed-rank on all; "
                                    "bootstrap stratified by seed",
                         "statistics": mbs.al_statistics(pooled, kT, seed=0, strata=strata)}}, per_seed


def w2_section(out: Path, rerun: bool, extra=()) -> dict:
    results, timing = ensure_run("mb-w2", 0, out, rerun, extra)
    statistics = mbs.w2_statistics(results["methods"], seed=0)
    return {"config": results["config"], "statistics": statistics, "run": timing,
            "n_diverged": {n: m["n_diverged"] for n, m in results["methods"].items()},
            "wall_s_per_method": {n: m["wall_s"] for n, m in results["methods"].items()}}


def pooled_figure(path: Path, per_seed: dict) -> None:
    """Median RMSE per iteration over all pooled trials with its 95 % bootstrap band, per sampler."""
    from skmd.studies.figure_tools import MB_ENERGY, MB_FORCE, integer_axis, pyplot, save  # noqa: PLC0415
    from skmd.studies.plots import COLORS, NAMES, al_settings  # noqa: PLC0415
    plt = pyplot()
    pooled, strata = pooled_samplers(per_seed)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), layout="constrained")
    for ax, key, label in zip(axes, ("energy_rmse", "force_rmse"),
                              (f"test-set energy RMSE ({MB_ENERGY})", f"test-set force-component RMSE\n({MB_FORCE})")):
        for name, curves in pooled.items():
            bands = [bootstrap_interval(curves[key][:, i], np.median, n_boot=2000, seed=i, strata=strata)
                     for i in range(curves[key].shape[1])]
            its = np.arange(len(bands))
            ax.plot(its, [b["estimate"] for b in bands], color=COLORS.get(name), label=NAMES.get(name, name))
            ax.fill_between(its, [b["low"] for b in bands], [b["high"] for b in bands], color=COLORS.get(name),
                            alpha=0.25)
        ax.set(yscale="log", xlabel="active-learning iteration (0 = the initial points)", ylabel=label)
        integer_axis(ax.xaxis)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    seeds = ", ".join(map(str, per_seed))
    settings = al_settings(next(iter(per_seed.values()))["config"], f"{len(strata)} trials from seeds {seeds}")
    fig.suptitle(f"Müller–Brown active learning (skmd mb-al), seeds {seeds} pooled: median test-set RMSE and its "
                 f"95 % bootstrap interval\n{settings}", fontsize=10)
    save(fig, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=None, help="one folder per seed (default runs/mb-al-seeds[-hH])")
    parser.add_argument("--w2-out", type=Path, default=None, help="default runs/mb-w2-full[-hH]")
    parser.add_argument("--amplitude", type=float, default=None, help="kernel amplitude h (default: the studies')")
    parser.add_argument("--tau", type=float, default=None, help="a-SKMD threshold (default: the study's)")
    parser.add_argument("--rerun", action="store_true", help="rerun studies whose results.json exists")
    parser.add_argument("--tables", action="store_true", help="only print the tables of docs/mueller-brown.md from the JSON files")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--aggregate-only", action="store_true", help="never run a study; use the finished ones")
    args = parser.parse_args(argv)
    tag = "" if args.amplitude is None else f"h{args.amplitude:g}"
    suffix = f"_{tag}" if tag else ""
    runs = args.runs or ROOT / "runs" / ("mb-al-seeds" + (f"-{tag}" if tag else ""))
    w2_out = args.w2_out or ROOT / "runs" / ("mb-w2-full" + (f"-{tag}" if tag else ""))
    extra_al = [flag for name in ("amplitude", "tau") if getattr(args, name) is not None
                for flag in (f"--{name}", str(getattr(args, name)))]
    extra_w2 = [] if args.amplitude is None else ["--amplitude", str(args.amplitude)]
    results_dir = ROOT / "benchmarks" / "results"
    al_json, w2_json = results_dir / f"mb_al_seeds{suffix}.json", results_dir / f"mb_w2_full{suffix}.json"
    if args.tables:
        al = json.loads(al_json.read_text())
        print(summary_tables(al))
        print(tables(al))
        print(w2_tables(json.loads(w2_json.read_text())))
        return 0
    commit = source_commit(ROOT)
    al, per_seed = al_section(runs, args.rerun, args.seeds, args.aggregate_only, extra_al)
    al.update(machine=machine_info(), commit_at_aggregation=commit)
    al_json.write_text(json.dumps(al, indent=1))
    pooled_figure(ROOT / "docs" / "figures" / f"mb_al_seeds{suffix}.png", per_seed)
    if args.aggregate_only and not (w2_out / "results.json").exists():
        return 0
    w2 = w2_section(w2_out, args.rerun, extra_w2)
    w2.update(machine=machine_info(), commit_at_aggregation=commit)
    w2_json.write_text(json.dumps(w2, indent=1))
    print(f"wrote {al_json}, {w2_json} and docs/figures/mb_al_seeds{suffix}.png")
    return 0



# --------------------------------------------------------------------------- markdown tables for docs/mueller-brown.md
METRICS = (("force_rmse", "final"), ("energy_rmse", "final"), ("force_rmse", "iterations_to_threshold"),
           ("energy_rmse", "iterations_to_threshold"), ("force_rmse", "area_under_curve"),
           ("energy_rmse", "area_under_curve"))


def _cell(interval: dict, digits: int = 3) -> str:
    return f"{interval['estimate']:.{digits}g} [{interval['low']:.{digits}g}, {interval['high']:.{digits}g}]"


def _verdict(comparison: dict) -> str:
    d = comparison["median_difference"]["estimate"]
    mark = "**yes**" if comparison["significant"] else "no"
    return f"{mark} (p_Holm {comparison['p_holm']:.2g}{', a lower' if d < 0 else ', b lower' if d > 0 else ''})"


def tables(al: dict) -> str:
    """Markdown: per-sampler medians per seed and pooled, then every pair per metric (pooled, with per-seed
    significance)."""
    seeds = [str(s) for s in al["seeds"]]
    stats_of = {**{s: al["per_seed"][s]["statistics"] for s in seeds}, "pooled": al["combined"]["statistics"]}
    lines = []
    for key, metric in METRICS:
        names = list(stats_of["pooled"][key][metric]["per_sampler"])
        lines += [f"\n**{key} — {metric}**: median over trials [95 % CI]\n",
                  "| sampler | " + " | ".join(f"seed {s}" for s in seeds) + " | pooled |",
                  "|---|" + "---|" * (len(seeds) + 1)]
        for name in names:
            cells = [_cell(stats_of[s][key][metric]["per_sampler"][name]["median"]) for s in seeds + ["pooled"]]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += ["", "| pair (a vs b) | pooled median of a − b [95 % CI] | pooled significant | "
                  + " | ".join(f"seed {s} significant" for s in seeds) + " |", "|---|---|---|" + "---|" * len(seeds)]
        for pair, c in stats_of["pooled"][key][metric]["pairs"].items():
            per_seed = [_verdict(stats_of[s][key][metric]["pairs"][pair]) for s in seeds]
            lines.append(f"| {pair} | {_cell(c['median_difference'])} | {_verdict(c)} | " + " | ".join(per_seed) + " |")
    return "\n".join(lines)


def _sig(c: dict) -> str:
    d = c["median_difference"]["estimate"] or c["difference_of_medians"]  # a median of 0: say which median is lower
    if not c["significant"]:
        return "no"
    return "**yes**, a lower" if d < 0 else "**yes**, b lower" if d > 0 else "**yes**"


def summary_tables(al: dict) -> str:
    """The two condensed tables of docs/mueller-brown.md: per-sampler medians, and every pair on every metric (pooled)."""
    seeds = [str(s) for s in al["seeds"]]
    pooled = al["combined"]["statistics"]
    per = {s: al["per_seed"][s]["statistics"] for s in seeds}
    thresholds = pooled["thresholds"]
    names = list(pooled["force_rmse"]["final"]["per_sampler"])
    head = ["| sampler | " + " | ".join(f"final force, seed {s}" for s in seeds)
            + " | final force, pooled | final energy, pooled | iterations to force ≤ "
            f"{thresholds['force_rmse']:g} | iterations to energy ≤ {thresholds['energy_rmse']:g} "
            "| force AUC | energy AUC |", "|---|" + "---|" * (len(seeds) + 6)]
    for name in names:
        cells = [_cell(per[s]["force_rmse"]["final"]["per_sampler"][name]["median"]) for s in seeds]
        cells += [_cell(pooled[key][metric]["per_sampler"][name]["median"])
                  for key, metric in (("force_rmse", "final"), ("energy_rmse", "final"),
                                      ("force_rmse", "iterations_to_threshold"),
                                      ("energy_rmse", "iterations_to_threshold"),
                                      ("force_rmse", "area_under_curve"), ("energy_rmse", "area_under_curve"))]
        head.append(f"| {name} | " + " | ".join(cells) + " |")
    pairs = ["", "| a vs b (pooled, median of a − b [95 % CI], significant?) | final force | final energy | "
             "iterations to force threshold | iterations to energy threshold | force AUC | energy AUC | "
             "final force significant per seed |", "|---|---|---|---|---|---|---|---|"]
    for pair in pooled["force_rmse"]["final"]["pairs"]:
        cells = [f"{_cell(pooled[key][metric]['pairs'][pair]['median_difference'])} "
                 f"{_sig(pooled[key][metric]['pairs'][pair])}" for key, metric in METRICS_ORDER]
        seeds_sig = " / ".join(_sig(per[s]["force_rmse"]["final"]["pairs"][pair]) for s in seeds)
        pairs.append(f"| {pair} | " + " | ".join(cells) + f" | {seeds_sig} |")
    return "\n".join(head + pairs)


METRICS_ORDER = (("force_rmse", "final"), ("energy_rmse", "final"), ("force_rmse", "iterations_to_threshold"),
                 ("energy_rmse", "iterations_to_threshold"), ("force_rmse", "area_under_curve"),
                 ("energy_rmse", "area_under_curve"))


def w2_tables(w2: dict) -> str:
    lines = []
    for metric in ("final", "area_under_curve"):
        s = w2["statistics"][metric]
        lines += [f"\n**W2 — {metric}** (100 paired trials)\n", "| method | median [95 % CI] | mean [95 % CI] |",
                  "|---|---|---|"]
        lines += [f"| {n} | {_cell(v['median'])} | {_cell(v['mean'])} |" for n, v in s["per_sampler"].items()]
        lines += ["", "| pair (a vs b) | median of a − b [95 % CI] | significant |", "|---|---|---|"]
        lines += [f"| {p} | {_cell(c['median_difference'])} | {_verdict(c)} |" for p, c in s["pairs"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())

"""Campaigns of one config run with several seeds, compared over the seeds (``skmd al-compare``).

Each seed's campaign is one trial: every number below is first computed per run directory, then
summarised over the n seeds as a mean with its 95 % Student-t interval (:func:`skmd.tools.stats.t_interval`;
n is given with it, and with one seed there is no interval). Per sampler and iteration (0 = the starting
model): test RMSEs of forces (meV/Å) and energy (meV/atom), per-basin and worst-basin force RMSE (test
frames with ``info["basin"]``), labels spent (this iteration and so far), the learning check's verdict
counts, and seconds per stage. Pairs of samplers are compared at the level that varies, the seed
(``seed_tests``: paired t and Wilcoxon tests over seeds of the final test RMSEs, Holm over the pairs, with
their power; :mod:`skmd.al.seed_tests`). Each seed's paired comparison of the final models on per-test-frame
errors is read from its ``results.json`` (``comparisons_final``, made by
:func:`skmd.al.results.final_comparisons`), with its Wilcoxon p-values Holm-adjusted again over every
pair × seed of one quantity (``pairs``): descriptive only, since the frames of one test set are shared and
correlated and say nothing about how another seed's campaign would end.

A study adds what only it knows as a :class:`StudyOverSeeds`: how to count the cells its campaigns' trace
visited (coverage, and the regions reached) and its verdicts on claims (the alanine-dipeptide study's are
:data:`skmd.studies.ala2_over_seeds.ALA2`). Without one, there is no coverage and no claim.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from ..tools.error_units import UNITS
from ..tools.rundir import as_json
from ..tools.stats import holm, t_interval
from .config import FREE_SETTINGS, CampaignConfig
from .over_seeds_report import render
from .results import STAGES
from .run_dir import RunDir
from .seed_tests import seed_tests

#: settings that may differ between the runs compared (besides where and how they ran, the seed)
MAY_DIFFER = ("seed", *FREE_SETTINGS)
RMSE_KEYS = ("force_rmse_meV_A", "energy_rmse_meV_atom")
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class StudyOverSeeds:
    """What a study adds to a comparison over seeds; each part may be left out.

    ``trace``: the campaign trace (``config["trace"]``) that ``visited`` reads; runs traced otherwise get
    no coverage. ``visited(run, sampler)``: per iteration k, the cumulative boolean map of the cells the
    sampler's walks visited in 1..k. ``regions(cells)``: the names of the regions (e.g. basins) those cells
    belong to. ``cells`` and ``regions_name`` name them in the markdown. ``claims(result)``: {key: verdict},
    verdicts made with :mod:`skmd.al.over_seeds_claims`; ``criteria``: where their criteria are written."""

    trace: str | None = None
    visited: Callable[[dict, str], list] | None = None
    regions: Callable[[object], set] | None = None
    cells: str = "cells"
    regions_name: str = "regions"
    claims: Callable[[dict], dict] | None = None
    criteria: str = ""


def unfinished_samplers(results: dict) -> list:
    """The samplers of a campaign's results.json with fewer iterations than its config asks for."""
    return [name for name, r in results["samplers"].items() if len(r["iterations"]) < results["config"]["iterations"]]


def read_runs(run_dirs) -> list:
    """The ``results.json`` of each finished run, sorted by seed, ``run_dir`` added; ValueError in one line
    for a missing or unfinished run, a repeated seed, or a setting other than the seed that differs."""
    if len(run_dirs) < 2:
        raise ValueError(f"comparing over seeds needs at least 2 run directories, got {len(run_dirs)}")
    runs = []
    for run_dir in run_dirs:
        path = RunDir(run_dir).results
        if not path.is_file():
            raise ValueError(f"{run_dir} holds no finished campaign (no results.json): run its skmd al command "
                             "to the end first")
        results = json.loads(path.read_text())
        results["run_dir"] = str(run_dir)
        runs.append(results)
    defaults = as_json(CampaignConfig())   # a setting an older run did not record had its default value
    for run in runs:
        run["config"] = {**defaults, **run["config"]}
        unfinished = unfinished_samplers(run)
        if unfinished:
            raise ValueError(f"{run['run_dir']} is unfinished ({', '.join(unfinished)} short of "
                             f"{run['config']['iterations']} iterations): resume its skmd al command first")
    first = runs[0]
    for run in runs[1:]:
        for key in sorted(set(first["config"]) | set(run["config"])):
            if key not in MAY_DIFFER and first["config"].get(key) != run["config"].get(key):
                raise ValueError(f"{run['run_dir']} and {first['run_dir']} differ in more than the seed: {key} is "
                                 f"{run['config'].get(key)!r} and {first['config'].get(key)!r}")
    seeds = [run["config"]["seed"] for run in runs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"the runs must have distinct seeds; got {seeds}")
    return sorted(runs, key=lambda run: run["config"]["seed"])


def compare_runs(run_dirs, study: StudyOverSeeds | None = None) -> dict:
    """Summary over seeds of finished campaigns of one config (see the module); JSON-ready. ``study``
    adds its coverage and claims (``result["claims"]`` is empty without)."""
    study = study or StudyOverSeeds()
    runs = read_runs([str(d) for d in run_dirs])
    config = {key: value for key, value in runs[0]["config"].items() if key not in MAY_DIFFER}
    names = list(runs[0]["samplers"])
    traced = study.trace is not None and runs[0]["config"].get("trace") == study.trace
    maps = {name: [study.visited(run, name) if traced else None for run in runs] for name in names}
    result = {"n_seeds": len(runs), "seeds": [run["config"]["seed"] for run in runs],
              "run_dirs": [run["run_dir"] for run in runs], "config": config, "units": UNITS, "level": 0.95,
              "initial": iteration_summary([run["initial"] for run in runs], None),
              "samplers": {name: {"iterations": [
                  iteration_summary([run["samplers"][name]["iterations"][k] for run in runs],
                                    [per_seed[k] for per_seed in maps[name]] if traced else None)
                  for k in range(config["iterations"])]} for name in names},
              "basins_reached": {name: [sorted(study.regions(m[-1])) for m in maps[name]] for name in names}
              if traced and study.regions is not None else None,
              "pairs": seed_pairs(runs, names)}
    result["seed_tests"] = seed_tests(result)
    result["claims"] = study.claims(result) if study.claims is not None else {}
    return result


def iteration_summary(metrics: list, maps) -> dict:
    """One iteration of one sampler (or the starting model) over seeds; ``metrics``: one dict per seed."""
    out = {key: t_interval([m[key] for m in metrics]) for key in RMSE_KEYS}
    if all("per_basin" in m for m in metrics):
        basins = list(metrics[0]["per_basin"])
        out["per_basin_force_rmse_meV_A"] = {b: t_interval([m["per_basin"][b]["force_rmse_meV_A"] for m in metrics])
                                             for b in basins}
        out["worst_basin_force_rmse_meV_A"] = t_interval([m["worst_basin"]["force_rmse_meV_A"] for m in metrics])
        out["worst_basin"] = dict(Counter(m["worst_basin"]["basin"] for m in metrics))
    if "iteration" not in metrics[0]:
        return out
    out["iteration"] = metrics[0]["iteration"]
    if maps is not None:
        out["coverage_cells"] = t_interval([int(m.sum()) for m in maps])
    out["n_labelled"] = t_interval([m["n_labelled"] for m in metrics])
    out["n_train"] = t_interval([m["n_train"] for m in metrics])
    verdicts = {}
    for m in metrics:
        for quantity, check in m.get("learning_check", {}).items():
            verdicts.setdefault(quantity, Counter())[check["verdict"]] += 1
    out["learning_check"] = {quantity: dict(counts) for quantity, counts in verdicts.items()}
    out["seconds"] = {key: t_interval([m.get(key, 0.0) for m in metrics]) for key in STAGES}
    return out


def seed_pairs(runs: list, names: list) -> dict:
    """{quantity: {"a vs b": per-seed comparisons, counts, a line}} of the final models, Holm over pairs × seeds."""
    out = {}
    for quantity in runs[0].get("comparisons_final", {}):
        rows = [(pair, run["config"]["seed"], run["comparisons_final"][quantity]["pairs"][pair])
                for run in runs for pair in run["comparisons_final"][quantity]["pairs"]
                if not set(pair.split(" vs ")) - set(names)]
        if not rows:
            continue
        adjusted = holm([row[2]["p_value"] for row in rows])
        block = {}
        for (pair, seed, c), p in zip(rows, adjusted):
            entry = block.setdefault(pair, {"per_seed": []})
            d = c["median_difference"]
            entry["per_seed"].append({"seed": seed, "median_difference": d, "p_value": c["p_value"],
                                      "p_holm_over_seeds": float(p), "significant": bool(p < SIGNIFICANCE)})
        for pair, entry in block.items():
            a, b = pair.split(" vs ")
            seeds = entry["per_seed"]
            entry["a_lower"] = sum(r["significant"] and r["median_difference"]["estimate"] < 0 for r in seeds)
            entry["b_lower"] = sum(r["significant"] and r["median_difference"]["estimate"] > 0 for r in seeds)
            entry["n"] = len(seeds)
            entry["line"] = (f"{a} < {b} significant in {entry['a_lower']} of {entry['n']} seeds, "
                             f"opposite in {entry['b_lower']}")
        out[quantity] = block
    return out


def render_markdown(result: dict, study: StudyOverSeeds | None = None) -> str:
    """The comparison over seeds as markdown (see :mod:`skmd.al.over_seeds_report`), in ``study``'s words."""
    return render(result, study or StudyOverSeeds())

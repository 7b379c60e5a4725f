"""Campaigns of one config run with several seeds, compared over the seeds (``skmd al-compare``).

Each seed's campaign is one trial: every number below is first computed per run directory, then
summarised over the n seeds as a mean with its 95 % Student-t interval (:func:`skmd.tools.stats.t_interval`;
n is given with it, and with one seed there is no interval). Per sampler and iteration (0 = the starting
model): test RMSEs of forces (meV/Å) and energy (meV/atom), per-basin and worst-basin force RMSE (test
frames with ``info["basin"]``), Ramachandran coverage as cumulative 10° × 10° φ/ψ cells visited (campaigns
traced with :class:`skmd.atoms.alanine.PhiPsi`), labels spent (this iteration and so far), the learning
check's verdict counts, and seconds per stage. Pairs of samplers: each seed's paired comparison of the final
models on per-test-frame errors is read from its ``results.json`` (``comparisons_final``, made by
:func:`skmd.al.report.final_comparisons`), and its Wilcoxon p-values are Holm-adjusted again over every
pair × seed of one quantity. The verdicts on the papers' claims are in :mod:`skmd.al.over_seeds_claims`.
"""
from __future__ import annotations

import json
from pathlib import Path

from .config import FREE_SETTINGS
from .report import STAGES

#: settings that may differ between the runs compared (besides where and how they ran, the seed)
MAY_DIFFER = ("seed", *FREE_SETTINGS)
#: the trace whose φ/ψ gives coverage and basins reached
PHI_PSI_TRACE = "skmd.atoms.alanine:PhiPsi"
#: seconds per stage of a sampler's iteration as metrics.json holds them (its walks' task, its labels, its
#: models' trainings summed, its scoring)
STAGE_KEYS = STAGES
RMSE_KEYS = ("force_rmse_meV_A", "energy_rmse_meV_atom")
SIGNIFICANCE = 0.05


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
        path = Path(run_dir) / "results.json"
        if not path.is_file():
            raise ValueError(f"{run_dir} holds no finished campaign (no results.json): run its skmd al command "
                             "to the end first")
        results = json.loads(path.read_text())
        results["run_dir"] = str(run_dir)
        runs.append(results)
    from ..tools.rundir import as_json  # noqa: PLC0415
    from .config import CampaignConfig  # noqa: PLC0415
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


def compare_runs(run_dirs) -> dict:
    """Summary over seeds of finished campaigns of one config (see the module); JSON-ready."""
    from ..atoms.scoring import UNITS  # noqa: PLC0415
    from .over_seeds_claims import claims  # noqa: PLC0415
    runs = read_runs([str(d) for d in run_dirs])
    config = {key: value for key, value in runs[0]["config"].items() if key not in MAY_DIFFER}
    names = list(runs[0]["samplers"])
    traced = runs[0]["config"].get("trace") == PHI_PSI_TRACE
    maps = {name: [phi_psi_maps(run, name) if traced else None for run in runs] for name in names}
    result = {"n_seeds": len(runs), "seeds": [run["config"]["seed"] for run in runs],
              "run_dirs": [run["run_dir"] for run in runs], "config": config, "units": UNITS, "level": 0.95,
              "initial": iteration_summary([run["initial"] for run in runs], None),
              "samplers": {name: {"iterations": [
                  iteration_summary([run["samplers"][name]["iterations"][k] for run in runs],
                                    [per_seed[k] for per_seed in maps[name]] if traced else None)
                  for k in range(config["iterations"])]} for name in names},
              "basins_reached": {name: [sorted(basins_of(m[-1])) for m in maps[name]] for name in names}
              if traced else None,
              "pairs": seed_pairs(runs, names)}
    result["claims"] = claims(result)
    return result


def phi_psi_maps(run: dict, name: str) -> list:
    """Per iteration k, the cumulative (36, 36) map of φ/ψ cells the sampler's walks visited in 1..k."""
    import numpy as np  # noqa: PLC0415
    from ..atoms.alanine import PhiPsi, visited_cells  # noqa: PLC0415
    maps, cells = [], None
    for k in range(1, run["config"]["iterations"] + 1):
        path = Path(run["run_dir"]) / "samplers" / name / f"iter{k:02d}" / "sampling.json"
        rows = np.asarray(json.loads(path.read_text()).get("trace", []), float).reshape(-1, 3)
        now = visited_cells(rows[:, 1:], PhiPsi.cell_deg)
        cells = now if cells is None else cells | now
        maps.append(cells)
    return maps


def basins_of(cells) -> set:
    """The basins (:func:`skmd.atoms.alanine.classify_basin` of each cell's centre) of visited cells,
    ``other`` left out."""
    import numpy as np  # noqa: PLC0415
    from ..atoms.alanine import OTHER, classify_basin  # noqa: PLC0415
    size = 360.0 / cells.shape[0]
    centres = -180.0 + size * (np.argwhere(cells) + 0.5)
    return set(classify_basin(centres)) - {OTHER} if len(centres) else set()


def iteration_summary(metrics: list, maps) -> dict:
    """One iteration of one sampler (or the starting model) over seeds; ``metrics``: one dict per seed."""
    from collections import Counter  # noqa: PLC0415
    from ..tools.stats import t_interval  # noqa: PLC0415
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
    out["seconds"] = {key: t_interval([m.get(key, 0.0) for m in metrics]) for key in STAGE_KEYS}
    return out


def seed_pairs(runs: list, names: list) -> dict:
    """{quantity: {"a vs b": per-seed comparisons, counts, a line}} of the final models, Holm over pairs × seeds."""
    from ..tools.stats import holm  # noqa: PLC0415
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


def render_markdown(result: dict) -> str:
    """The comparison over seeds as markdown (see :mod:`skmd.al.over_seeds_report`)."""
    from .over_seeds_report import render  # noqa: PLC0415
    return render(result)

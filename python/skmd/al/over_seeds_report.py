"""Markdown of a comparison over seeds (:func:`skmd.al.over_seeds.compare_runs`), in the words of the study
(:class:`skmd.al.over_seeds.StudyOverSeeds`) that made it."""
from __future__ import annotations

from ..tools.error_units import WORST_BASIN_KEY
from .report import walks_text
from .results import STAGES


def span(interval, digits: int = 1) -> str:
    """A t-interval dict as ``mean [low, high]`` (the mean alone for one seed; – for none)."""
    if not interval or interval["mean"] is None:
        return "–"
    if interval["low"] is None:
        return f"{interval['mean']:.{digits}f}"
    return f"{interval['mean']:.{digits}f} [{interval['low']:.{digits}f}, {interval['high']:.{digits}f}]"


def _verdicts(check: dict) -> str:
    parts = [f"{q}: " + ", ".join(f"{v} {n}" for v, n in counts.items()) for q, counts in check.items()]
    return "; ".join(parts) or "–"


def iteration_table(result: dict, cells: str = "cells") -> list:
    """One row per sampler and iteration: RMSEs, worst basin, coverage (``cells`` visited), labels, learning
    check, seconds."""
    f_unit, e_unit = result["units"]["force_rmse_meV_A"], result["units"]["energy_rmse_meV_atom"]
    lines = [f"| sampler | iteration | force RMSE ({f_unit}) | energy RMSE ({e_unit}) | worst-basin force RMSE "
             f"({f_unit}) | {cells} visited (cumulative) | labels | learning check (verdict: seeds) | "
             "seconds: sample / label / train / score |", "|---|---|---|---|---|---|---|---|---|"]
    start = result["initial"]
    lines.append(f"| start | 0 | {span(start['force_rmse_meV_A'])} | {span(start['energy_rmse_meV_atom'], 2)} | "
                 f"{span(start.get('worst_basin_force_rmse_meV_A'))} | – | – | – | – |")
    for name, sampler in result["samplers"].items():
        for m in sampler["iterations"]:
            seconds = " / ".join(span(m["seconds"][k], 0) for k in STAGES)
            lines.append(f"| {name} | {m['iteration']} | {span(m['force_rmse_meV_A'])} | "
                         f"{span(m['energy_rmse_meV_atom'], 2)} | {span(m.get('worst_basin_force_rmse_meV_A'))} | "
                         f"{span(m.get('coverage_cells'), 0)} | {span(m['n_labelled'], 1)} | "
                         f"{_verdicts(m['learning_check'])} | {seconds} |")
    return lines


def basin_table(result: dict) -> list:
    """Final models' force RMSE per basin (mean [95 % t-interval] over seeds) and how often each basin was worst."""
    start = result["initial"]
    if "per_basin_force_rmse_meV_A" not in start:
        return []
    basins = list(start["per_basin_force_rmse_meV_A"])
    rows = {"start": start, **{name: s["iterations"][-1] for name, s in result["samplers"].items()}}
    lines = ["", f"### Final models per basin: force RMSE ({result['units']['force_rmse_meV_A']})", "",
             "| model | " + " | ".join(basins) + " | worst basin (seeds) |", "|---|" + "---|" * (len(basins) + 1)]
    for name, m in rows.items():
        worst = ", ".join(f"{b} {n}" for b, n in m["worst_basin"].items())
        lines.append(f"| {name} | " + " | ".join(span(m["per_basin_force_rmse_meV_A"][b]) for b in basins)
                     + f" | {worst} |")
    return lines


def seed_test_lines(result: dict) -> list:
    """Per quantity and pair, the seed-level test of the final models and its power."""
    lines = []
    for quantity, block in result.get("seed_tests", {}).items():
        unit = result["units"].get(quantity) or result["units"][WORST_BASIN_KEY]   # the worst-basin RMSE's unit
        lines += ["", f"### Final models compared over seeds: {quantity} ({unit})", "",
                  f"Per-seed differences a − b, mean [95 % t-interval], n = {result['n_seeds']}; paired t and "
                  "Wilcoxon signed-rank p, each Holm-adjusted over the pairs; significant: Holm paired-t p < 0.05. "
                  "Power: the smallest difference these seeds detect at 80 %"
                  + (f", and the seeds that detect {block['target']:g} {unit}." if block["target"] else "."), ""]
        for pair, entry in block["pairs"].items():
            power = ""
            if "detectable_at_80pct_power" in entry:
                needed = entry.get("seeds_to_detect_target")
                power = f"; detects {entry['detectable_at_80pct_power']:.3g}"
                if block["target"]:
                    power += f", {'over 1000' if needed is None else needed} seeds for {block['target']:g}"
            lines.append(f"* {entry['line']}{power}")
    return lines


def pair_lines(result: dict) -> list:
    """Per quantity and pair, how many seeds show a significant per-test-frame difference either way."""
    lines = []
    for quantity, block in result["pairs"].items():
        lines += ["", f"### Final models compared per test frame, within each seed (descriptive): {quantity}", "",
                  "Per test frame, paired, in each seed (Wilcoxon signed-rank p, Holm-adjusted over every pair × "
                  "seed; median difference a − b [95 % bootstrap interval over test frames]). The frames are "
                  "shared and correlated: this describes the test set, not how other seeds would end; conclusions "
                  "rest on the tests over seeds above.", ""]
        for pair, entry in block.items():
            per_seed = "; ".join(f"seed {r['seed']}: {r['median_difference']['estimate']:+.2f} "
                                 f"[{r['median_difference']['low']:+.2f}, {r['median_difference']['high']:+.2f}], "
                                 f"p {r['p_holm_over_seeds']:.2g}" for r in entry["per_seed"])
            lines.append(f"* {pair}: {entry['line']} ({per_seed})")
    return lines


def render(result: dict, study) -> str:
    """The whole comparison: what was compared, the tables, the pairs and the verdicts on ``study``'s claims."""
    c = result["config"]
    lines = [f"# Campaigns over {result['n_seeds']} seeds ({', '.join(map(str, result['seeds']))})", "",
             f"Preset {c.get('preset') or '–'}; samplers {', '.join(result['samplers'])}; {c['iterations']} "
             f"iteration{'s' if c['iterations'] != 1 else ''} of {walks_text(c)}, "
             f"{c['select']} labels each; {c['temperature_K']:g} K. "
             f"Mean over seeds [95 % t-interval over seeds, n = {result['n_seeds']}].", "",
             *iteration_table(result, study.cells), *basin_table(result)]
    if result.get("basins_reached"):
        lines += ["", f"### {study.regions_name.capitalize()} whose {study.cells} each sampler visited (per seed)", ""]
        lines += [f"* {name}: " + "; ".join(", ".join(b) or "none" for b in seeds)
                  for name, seeds in result["basins_reached"].items()]
    lines += seed_test_lines(result) + pair_lines(result)
    if result["claims"]:
        lines += ["", "## The papers' claims", "", f"Criteria: see {study.criteria}.", ""]
        lines += [f"* ({key}) {v['claim']}: **{v['verdict']}**. {v['summary']}." for key, v in result["claims"].items()]
    return "\n".join(lines) + "\n"

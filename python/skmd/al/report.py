"""``report.md``: a campaign's results (:mod:`skmd.al.results`) in plain words and tables, and the
one-line sentences the campaign logs as it goes."""
from __future__ import annotations

from pathlib import Path

from ..tools.error_units import QUANTITY, UNITS, WORST_BASIN_KEY
from .learning import sentence


def errors_line(errors: dict) -> str:
    """A score's test errors in words (energy, forces, stress where scored, the worst basin where there are basins)."""
    line = (f"test RMSE energy {errors['energy_rmse_meV_atom']:.1f} meV/atom, "
            f"forces {errors['force_rmse_meV_A']:.1f} meV/Å")
    if "stress_rmse_meV_A3" in errors:
        line += f", stress {errors['stress_rmse_meV_A3']:.2f} meV/Å³"
    if "worst_basin" in errors:
        worst = errors["worst_basin"]
        line += f"; worst basin {worst['basin']} (forces {worst['force_rmse_meV_A']:.1f} meV/Å)"
    return line


def walks_text(config) -> str:
    """What one sampler runs per iteration, in words: "15 walkers × 10 moves of 100 steps each" (a config
    dict or CampaignConfig; ``moves`` defaults to 1, as in runs made before it existed)."""
    get = config.get if isinstance(config, dict) else lambda key, default=None: getattr(config, key, default)
    moves = get("moves", 1) or 1
    return f"{get('walkers')} walkers{'' if moves == 1 else f' × {moves} moves'} of {get('steps')} steps each"


def report_text(results) -> str:
    """report.md: what was run, the learning curves and a table per sampler, in plain words."""
    c = results["config"]
    keys = [key for key in UNITS if key in results["initial"]]
    lines = [f"# skmd al: {Path(c['structures']).name}", "",
             f"Oracle `{c['oracle']}`; samplers {', '.join(results['samplers'])}; {c['iterations']} "
             f"iteration{'s' if c['iterations'] != 1 else ''} of {walks_text(c)}, up to "
             f"{c['select']} labels each (selector: {results['selector']}); "
             f"{'NPT at ' + str(c['pressure_GPa']) + ' GPa' if c['pressure_GPa'] is not None else 'NVT'}, "
             f"{c['temperature_K']:g} K; fine-tuning: {c['finetune']}. Test set: {results['test_frames']} frames. "
             f"Oracle calls: {results['oracle_calls']}; wall time {results['wall_s']:.0f} s over "
             f"{results['invocations']} invocation(s) of the command.", "",
             *([results["skmd_regime"], ""] if results.get("skmd_regime") else []),
             "![learning curves](learning_curves.png)", "",
             "*Test RMSE after each iteration (0 = the starting model); one line per sampler.*", "",
             "| sampler | iteration | labels | " + " | ".join(f"test {QUANTITY[k]} RMSE ({UNITS[k]})" for k in keys)
             + " | uncertainty stops | share: sample/label/train/score |",
             "|---|---|---|" + "---|" * len(keys) + "---|---|",
             "| start | 0 | – | " + " | ".join(f"{results['initial'][k]:.2f}" for k in keys) + " | – | – |"]
    for name, r in results["samplers"].items():
        for m, share in zip(r["iterations"], r["stage_share"]):
            lines.append(f"| {name} | {m['iteration']} | {labels_cell(m)} | "
                         + " | ".join(f"{m[k]:.2f}" for k in keys)
                         + f" | {m.get('threshold_stops', 0)}/{m['n_candidates']} | "
                         + "/".join(f"{share[s]:.0%}" for s in ("sample", "label", "train", "score")) + " |")
    lines += ["", "## Learning check", "",
              "Each new model against the previous one on validation labels that neither trained on "
              "(see skmd.al.learning):", ""]
    lines += [f"* {sentence(name, m['iteration'], m.get('learning_check', {}))}"
              for name, r in results["samplers"].items() for m in r["iterations"]]
    lines += crossing_lines(results) + basin_lines(results) + comparison_lines(results) + visited_lines(results)
    lines += ["", "Final models: " + ", ".join(f"{n}: `{p}`" for n, p in results["final_model"].items()),
              "(skmd's safe format; `skmd export MODEL OUT.model` writes one for mace's `MACECalculator` and tools)",
              f"Training set: `{results['training_set']['path']}` ({results['training_set']['frames']} frames).", ""]
    return "\n".join(lines)


def labels_cell(metrics: dict) -> str:
    """An iteration's new labels, with the selected frames the oracle failed on and the picks that replaced
    them when there were any."""
    failed = metrics.get("n_failed", 0)
    if not failed:
        return str(metrics["n_labelled"])
    return f"{metrics['n_labelled']} ({failed} of {metrics['n_selected']} failed, {metrics.get('n_replacements', 0)} replaced)"


def basin_lines(results) -> list:
    """Markdown: per basin of the test set, the final models' force and energy RMSEs, and each sampler's
    worst basin (largest force RMSE) per iteration; nothing when the test frames carry no basin."""
    if "per_basin" not in results["initial"]:
        return []
    finals = {"start": results["initial"], **{name: r["iterations"][-1] for name, r in results["samplers"].items()}}
    basins = list(results["initial"]["per_basin"])
    f_unit, e_unit = UNITS[WORST_BASIN_KEY], UNITS["energy_rmse_meV_atom"]
    lines = ["", "## Errors per basin", "",
             f"Test RMSE of each final model in each basin of the test set: forces ({f_unit}) / energy ({e_unit}); "
             "the worst basin has the largest force RMSE:", "",
             "| model | " + " | ".join(f"{b} ({results['initial']['per_basin'][b]['n_frames']})" for b in basins)
             + " | worst basin |", "|---|" + "---|" * (len(basins) + 1)]
    for name, m in finals.items():
        cells = [f"{m['per_basin'][b][WORST_BASIN_KEY]:.1f} / {m['per_basin'][b]['energy_rmse_meV_atom']:.2f}"
                 if b in m["per_basin"] else "–" for b in basins]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {m['worst_basin']['basin']} |")
    lines += ["", "Worst basin per iteration (0 = the starting model):", ""]
    start = results["initial"]["worst_basin"]
    for name, r in results["samplers"].items():
        steps = [f"0 {start['basin']} ({start[WORST_BASIN_KEY]:.1f})"] + [
            f"{m['iteration']} {m['worst_basin']['basin']} ({m['worst_basin'][WORST_BASIN_KEY]:.1f})"
            for m in r["iterations"] if "worst_basin" in m]
        lines.append(f"* {name}: " + ", ".join(steps) + f" {f_unit}")
    return lines


def comparison_lines(results) -> list:
    """Markdown: every pair's median per-test-frame error difference a − b [95 % CI], Holm p."""
    units = {QUANTITY[key]: UNITS[key] for key in UNITS}
    lines = ["", "## Final models compared", "",
             "Per test frame, paired; 95 % bootstrap intervals over test frames; Wilcoxon signed-rank p, "
             "Holm-adjusted within each quantity:", "",
             "| quantity | a vs b | median difference a − b [95 % CI] | p (Holm) | significant |", "|---|---|---|---|---|"]
    notes = []
    for quantity, block in results.get("comparisons_final", {}).items():
        for pair, c in block["pairs"].items():
            d = c["median_difference"]
            lines.append(f"| {quantity} ({units[quantity]}) | {pair} | {d['estimate']:.2f} [{d['low']:.2f}, "
                         f"{d['high']:.2f}] | {c['p_holm']:.2g} | {'yes' if c['significant'] else 'no'} |")
        frames, needed = results.get("test_frames"), block.get("smallest_significant_n")
        if needed and frames is not None and frames < needed and not notes:
            notes = ["", f"With {frames} test frames no comparison here can be significant: the smallest Holm-adjusted "
                     f"signed-rank p over {len(block['pairs'])} comparisons needs at least {needed} frames. Read the "
                     "intervals, and score on a larger test set (`--test`) to decide."]
    return lines + notes if len(lines) > 6 else []


def visited_lines(results) -> list:
    """Markdown: the summary of what each sampler visited (its trace), as recorded in results.json."""
    visited = {name: r["visited"] for name, r in results["samplers"].items() if "visited" in r}
    if not visited:
        return []
    lines = ["", f"## What each sampler visited (trace `{results['config']['trace']}`)", ""]
    for name, summary in visited.items():
        shown = {key: value for key, value in summary.items() if key != "trace_frames"}
        lines.append(f"* {name}: " + "; ".join(f"{key} {_short(value)}" for key, value in shown.items()))
    return lines


def _short(value) -> str:
    """A summary value in a few characters: numbers to 3 significant digits, intervals as m [lo, hi]."""
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    if isinstance(value, dict) and "median" in value:
        m = value["median"]
        return f"median {m['estimate']:.3g} [{m['low']:.3g}, {m['high']:.3g}] over {value['n']}"
    return str(value)


def crossing_sentence(name: str, m: dict, walkers: int) -> str:
    """One plain sentence on how an uncertainty-stopped sampler's walks of one iteration ended."""
    steps, k = m.get("threshold_stop_steps", []), m["iteration"]
    if not steps:
        return f"{name}, iteration {k}: no walk crossed the uncertainty threshold (of {walkers} walks)."
    if all(step <= 1 for step in steps) and len(steps) >= walkers:
        return (f"{name}, iteration {k}: every walk crossed the threshold at its first step: the starts already lie "
                "above it, so these walks explored nothing.")
    return (f"{name}, iteration {k}: {len(steps)} of {walkers} walks crossed the threshold, at steps "
            f"{', '.join(str(s) for s in sorted(steps))}.")


def crossing_lines(results) -> list:
    """Markdown: for every sampler whose walks stop at an uncertainty threshold, how each iteration's walks ended."""
    walkers = results["config"]["walkers"] * results["config"].get("moves", 1)
    lines = [f"* {crossing_sentence(name, m, walkers)}" for name, r in results["samplers"].items()
             for m in r["iterations"] if "max_atomic_uncertainty" in m and m["max_atomic_uncertainty"]]
    return ["", "## Uncertainty threshold", ""] + lines if lines else []

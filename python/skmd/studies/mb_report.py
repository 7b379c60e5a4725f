"""What ``skmd mb-al`` prints when it ends: SKMD's regime, the final errors with intervals and the significant
orderings, and the learning check in plain words (:mod:`skmd.studies.mb_learning`)."""
from __future__ import annotations

from ..al.learning import sentence
from ..modules.kernels import kernel_regime, regime_sentence
from .figure_tools import MB_ENERGY, MB_FORCE
from .mb_learning import REACHED_A, learning_loop


def regime_line(config: dict) -> str:
    """Which regime SKMD ran in and what that gives up (``--regime`` switches)."""
    h, n = config["amplitude"], config["n_initial"]
    other = "exploration" if kernel_regime(h, n) == "boltzmann" else "boltzmann"
    return regime_sentence(h, n).replace("SKMD runs", "SKMD ran", 1) + f" Use --regime {other} for the other regime."


def learning_lines(results) -> list[str]:
    """One line per sampler: the iterations whose new models were worse on held-out labels, or none."""
    lines = []
    for name, r in results["samplers"].items():
        worse = r.get("worse_iterations", [])
        if not worse:
            lines.append(f"learning check, {name}: no iteration made the models worse on held-out labels.")
            continue
        lines.append(f"learning check, {name}: the new models were WORSE on held-out labels after iteration"
                     f"{'s' * (len(worse) > 1)} {', '.join(map(str, worse))}:")
        lines += [f"  {sentence(name, k, r['learning_check'][k - 1])}" for k in worse]
    return lines


def story_lines(results) -> list[str]:
    """One line per sampler: its median force RMSE, initial → final, where its points went and on the test set."""
    lines = []
    for name, s in learning_loop(results).items():
        held, test = s["held_out"], s["test"]
        reached = "reached A" if s["reached_A"] else f"did not reach A (< {100 * REACHED_A:.0f} %)"
        lines.append(f"{name}: force RMSE where its points went (held-out labels) {held[0]:.3g} → {held[1]:.3g}; "
                     f"on the test set (basin A) {test[0]:.3g} → {test[1]:.3g}; {100 * s['share_nearest_A']:.0f} % of "
                     f"its points nearest A, {reached}.")
    return lines


def summary_table(results) -> str:
    """The regime, a markdown table: final median RMSEs with 95 % intervals, and the significant force-RMSE orderings."""
    stats = results["statistics"]
    head = [regime_line(results["config"]), ""]
    if "skipped" in stats:
        return "\n".join(head + [f"no statistics: {stats['skipped']}", ""] + learning_lines(results))
    lines = head + [f"| sampler | final energy RMSE ({MB_ENERGY}), median [95 % CI] | final force RMSE ({MB_FORCE}), "
             "median [95 % CI] | wall s |", "|---|---|---|---|"]
    for name, r in results["samplers"].items():
        cells = [_interval(stats[key]["final"]["per_sampler"][name]["median"]) for key in ("energy_rmse", "force_rmse")]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | {r['wall_s']:.1f} |")
    lines.append("")
    for pair, c in stats["force_rmse"]["final"]["pairs"].items():
        verdict = "significant" if c["significant"] else "not significant"
        lines.append(f"final force RMSE {pair}: median difference {_interval(c['median_difference'])} {MB_FORCE}, "
                     f"Holm p = {c['p_holm']:.2g} ({verdict})")
    needed, trials = stats["force_rmse"]["final"].get("smallest_significant_n"), results["config"]["trials"]
    if needed and trials < needed:
        lines.append(f"With {trials} trials no comparison here can be significant: the smallest Holm-adjusted p "
                     f"needs at least {needed} trials (--trials).")
    return "\n".join(lines + [""] + story_lines(results) + [""] + learning_lines(results))


def _interval(summary) -> str:
    return f"{summary['estimate']:.3g} [{summary['low']:.3g}, {summary['high']:.3g}]"

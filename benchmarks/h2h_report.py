"""The ala2-h2h summary's derived numbers and its Markdown report (benchmarks/ala2_h2h.py --summary).

``against_ideal_ratios(seeds)``: per sampler, the final force RMSE over the ideal-data control's at equal
labels, one ratio per seed, with its 95 % t-interval over seeds. ``share_of_ideal_gain(seeds)``: per sampler,
how much of the ideal-data control's gain over the no-new-labels control its labels bought, per seed (added
after two seeds were seen; descriptive, no verdict reads it). ``training_noise(seeds)``: per sampler, the
final model's force RMSE minus the same labels retrained with a second training seed. ``ideal_bar(ratios)``:
the bar's reading (the best sampler, whether its mean ratio is within the bar and whether its interval is).
``oracle_failures(seeds)``: per sampler, the selected frames the oracle failed on (each replaced by the
selector's next pick) over the labels it kept, summed over seeds and iterations. ``seeds_needed(primary)``: the protocol's seed count, max(5, the seeds each primary comparison needs).
``report(result)``:
the Markdown of benchmarks/results/ala2_h2h/summary.md, every number read from the summary's JSON.
"""
from __future__ import annotations

from skmd.al.seed_tests import interval_text
from skmd.tools.stats import t_interval

FORCE = "force_rmse_meV_A"
#: the issue's bar: the best sampler's final force RMSE within this factor of the ideal-data model's
IDEAL_BAR = 1.5
#: the protocol's fewest seeds
MIN_SEEDS = 5


def against_ideal_ratios(seeds: list) -> dict:
    """{sampler: t-interval of (final force RMSE / ideal control's final force RMSE) over seeds}."""
    return {name: t_interval([s["samplers"][name][-1][FORCE] / s["controls"]["ideal"][-1][FORCE] for s in seeds])
            for name in seeds[0]["samplers"]}


def share_of_ideal_gain(seeds: list) -> dict:
    """{sampler: t-interval over seeds of (no new labels − sampler) / (no new labels − ideal data)}, final force
    RMSEs at equal labels: 1 when a sampler's labels are worth as much as the ideal data, 0 when they are worth
    no more than continued training on the starting labels."""
    def share(seed: dict, name: str) -> float:
        none, ideal = (seed["controls"][c][-1][FORCE] for c in ("no_new_labels", "ideal"))
        return (none - seed["samplers"][name][-1][FORCE]) / (none - ideal)
    return {name: t_interval([share(s, name) for s in seeds]) for name in seeds[0]["samplers"]}


def ideal_bar(ratios: dict) -> dict:
    """The bar's reading (fixed in the protocol's change log after seeds 0-1): the best sampler is the one with
    the lowest mean ratio to the ideal-data control; it meets the bar when that mean is at most
    :data:`IDEAL_BAR`; ``interval_below_bar`` says whether the ratio's whole 95 % interval is below it (None
    with one seed)."""
    best = min(ratios, key=lambda name: ratios[name]["mean"])
    ratio = ratios[best]
    return {"bar": IDEAL_BAR, "best": best, "ratio": ratio, "met": bool(ratio["mean"] <= IDEAL_BAR),
            "interval_below_bar": None if ratio["high"] is None else bool(ratio["high"] < IDEAL_BAR)}


def seeds_needed(primary: dict) -> dict:
    """The protocol's seed count: max(:data:`MIN_SEEDS`, the seeds each primary comparison's paired t-test needs
    to detect its target at 80 % power with Holm over the comparisons, from the seeds' own SD; 2 where the SD
    is 0). ``n`` is None when some comparison needs more than the tools count (1000)."""
    each = {pair: 2 if entry.get("sd_of_differences") == 0 else entry.get("seeds_to_detect_target")
            for pair, entry in primary.items()}          # equal differences in every seed: any two seeds tell
    known = [n for n in each.values() if n is not None]
    return {"per_comparison": each, "n": None if len(known) < len(each) else max([MIN_SEEDS, *known])}


def oracle_failures(seeds: list) -> dict:
    """{sampler: {"failed", "labelled", "rate"}}: oracle failures (e.g. SCF) among the frames each sampler sent to
    the oracle, over every seed and iteration; rate = failed / (failed + labelled)."""
    out = {}
    for name in seeds[0]["samplers"]:
        failed = sum(row["n_failed"] for s in seeds for row in s["samplers"][name])
        labelled = sum(row["labels"] for s in seeds for row in s["samplers"][name])
        out[name] = {"failed": failed, "labelled": labelled, "rate": failed / (failed + labelled)}
    return out


def training_noise(seeds: list) -> dict:
    """{sampler: t-interval over seeds of (final force RMSE − the same labels retrained with another seed)}."""
    return {name: t_interval([s["samplers"][name][-1][FORCE] - s["retrained_second_seed"][name][FORCE]
                              for s in seeds])
            for name in seeds[0]["samplers"]}


def _row(cells) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def report(result: dict) -> str:
    """The summary as Markdown: final errors per arm, the primary tests, the ideal-data bar, the controls and
    the data-efficiency readings (meV/Å throughout)."""
    seeds = result["seeds"]
    lines = [f"# ala2-h2h over {len(seeds)} seeds ({', '.join(map(str, seeds))})", "",
             "Final whole-test-set force RMSE (meV/Å): mean [95 % t-interval over seeds], then per seed.", "",
             _row(["arm", "mean [95 % CI]", "per seed"]), _row(["---"] * 3)]
    for arm, values in result["final_force_rmse_meV_A"].items():
        lines.append(_row([arm, interval_text(t_interval(values)), ", ".join(f"{v:.1f}" for v in values)]))
    lines += ["", "Primary comparisons (paired over seeds, Holm over the four):", ""]
    for entry in result["primary"].values():
        detectable = entry.get("detectable_at_80pct_power")
        lines.append(f"- {entry['line']}" + (f"; these seeds detect {detectable:.0f} meV/Å at 80 % power"
                                              if detectable else ""))
    needed = result["seeds_needed"]
    lines += ["", f"Seeds the protocol asks for, max({MIN_SEEDS}, the seeds each comparison needs to detect "
              f"15 meV/Å at this SD): {needed['n'] if needed['n'] is not None else 'more than 1000'} "
              f"({', '.join(f'{pair}: {n}' for pair, n in needed['per_comparison'].items())})."]
    lines += ["", f"Final force RMSE over the ideal-data control's at equal labels (the bar is {IDEAL_BAR}×):", ""]
    for name, interval in result["ratio_to_ideal"].items():
        lines.append(f"- {name}: {interval_text(interval)}")
    bar = result["ideal_bar"]
    lines += ["", f"The best sampler (lowest mean ratio) is {bar['best']}: mean {bar['ratio']['mean']:.2f}, "
              + ("within" if bar["met"] else "not within") + f" the {IDEAL_BAR}× bar"
              + ("" if bar["interval_below_bar"] is None else
                 "; its 95 % interval lies " + ("below the bar" if bar["interval_below_bar"] else "partly above the bar"))
              + "."]
    lines += ["", "Share of the ideal-data control's gain over the no-new-labels control that each sampler's labels "
              "bought (1: worth the ideal data; 0: worth no more than continued training; descriptive):", ""]
    for name, interval in result["share_of_ideal_gain"].items():
        lines.append(f"- {name}: {interval_text(interval)}")
    lines += ["", "Training noise (final − the same labels retrained with a second training seed; mean over seeds "
              "[95 % CI], and the mean of its size):", ""]
    for name, interval in result["training_noise"].items():
        size = sum(abs(v) for v in interval["values"]) / len(interval["values"])
        lines.append(f"- {name}: {interval_text(interval)} meV/Å; mean |difference| {size:.1f} meV/Å")
    lines += ["", "Oracle (SCF) failures among the frames each sampler sent to GFN2-xTB, every one replaced by the "
              "selector's next pick: " + "; ".join(f"{name} {f['failed']} of {f['failed'] + f['labelled']}"
                                                    for name, f in result["oracle_failures"].items()) + "."]
    reach = result["data_efficiency"]["labels_within_1.25x_of_ideal"]
    most = max(points[-1][0] for points in result["data_efficiency"]["mean_curves"].values())
    lines += ["", "New labels after which the mean curve is within 1.25× of the ideal-data control at equal labels:",
              ""] + [f"- {name}: {labels if labels is not None else f'not within the campaign ({most} labels)'}"
                     for name, labels in reach.items()]
    return "\n".join(lines) + "\n"

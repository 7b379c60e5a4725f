"""Seed-level tests between the samplers of a comparison over seeds (``skmd al-compare``).

Each seed's campaign gives one number per sampler and quantity (its final models' test RMSE); the
samplers ran with the same seeds, so they are compared through the per-seed differences (see
:mod:`skmd.tools.seed_stats`). Per quantity and pair: the mean difference with its 95 % t-interval, the
paired t-test and the Wilcoxon signed-rank p-value, each Holm-adjusted over the pairs of that quantity.
A difference is **significant** when its Holm-adjusted paired-t p is below 0.05 (the Wilcoxon test is
reported beside it; it cannot reach 0.05 with fewer than 6 seeds). With each: the smallest difference
these seeds detect with 80 % power (from the pair's SD, at Holm's first-step level) and the seeds a
paired t-test needs to detect the quantity's target difference (``TARGETS``: 15 meV/Å for forces).
"""
from __future__ import annotations

import numpy as np

from ..tools.seed_stats import detectable_difference, paired_t_p, seeds_to_detect
from ..tools.stats import holm, signed_rank_p, t_interval

QUANTITIES = ("force_rmse_meV_A", "energy_rmse_meV_atom", "worst_basin_force_rmse_meV_A")
SIGNIFICANCE = 0.05
#: the difference the protocol wants to detect, per quantity (meV/Å): ala2-h2h's pre-registered 15 meV/Å
TARGETS = {"force_rmse_meV_A": 15.0, "worst_basin_force_rmse_meV_A": 15.0}


def final_values(result: dict, name: str, quantity: str) -> list | None:
    """Per-seed values (seed order) of ``quantity`` for sampler ``name``'s final models, or None."""
    entry = result["samplers"][name]["iterations"][-1].get(quantity)
    return None if entry is None else entry["values"]


def pair_test(a: list, b: list, target: float | None = None, comparisons: int = 1) -> dict:
    """One pair's seed-level comparison of per-seed values a and b (same seed order): d = a − b; its power
    at Holm's first-step level over ``comparisons``, and (with ``target``) the seeds that detect it."""
    differences = [x - y for x, y in zip(a, b)]
    interval = t_interval(differences)
    spread = None if len(differences) < 2 else float(np.std(differences, ddof=1))
    out = {"difference": interval, "p_t": paired_t_p(differences),
           "p_wilcoxon": signed_rank_p(differences), "sd_of_differences": spread}
    if spread:
        out["detectable_at_80pct_power"] = detectable_difference(spread, len(differences), comparisons=comparisons)
        if target is not None:
            out["seeds_to_detect_target"] = seeds_to_detect(target, spread, comparisons=comparisons)
    return out


def seed_tests(result: dict, targets: dict = TARGETS) -> dict:
    """{quantity: {"pairs": {"a vs b": test}, "target": targets.get(quantity)}} over every pair of samplers of a
    comparison over seeds (:func:`skmd.al.over_seeds.compare_runs`'s result); quantities some sampler
    lacks are left out; nothing with one seed."""
    names = list(result["samplers"])
    if result["n_seeds"] < 2 or len(names) < 2:
        return {}
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    out = {}
    for quantity in QUANTITIES:
        values = {name: final_values(result, name, quantity) for name in names}
        if any(v is None for v in values.values()):
            continue
        target = targets.get(quantity)
        out[quantity] = {"pairs": pairs_block(values, pairs, target), "target": target}
    return out


def pairs_block(values: dict, pairs: list, target: float | None = None) -> dict:
    """{"a vs b": test} for the ``pairs`` (a, b) of per-seed ``values`` {name: [value per seed]}: each
    :func:`pair_test`, Holm-adjusted over these pairs (t and Wilcoxon), significant below
    :data:`SIGNIFICANCE` (Holm-adjusted t), with a one-line reading."""
    block = {f"{a} vs {b}": pair_test(values[a], values[b], target, len(pairs)) for a, b in pairs}
    for key in ("p_t", "p_wilcoxon"):
        adjusted = holm([entry[key] for entry in block.values()])
        for entry, p in zip(block.values(), adjusted):
            entry[f"{key}_holm"] = float(p)
    for pair, entry in block.items():
        entry["significant"] = bool(entry["p_t_holm"] < SIGNIFICANCE)
        a, b = pair.split(" vs ")
        mean = entry["difference"]["mean"]
        lower = a if mean < 0 else b
        entry["line"] = (f"{a} − {b} = {interval_text(entry['difference'])}: "
                         + (f"{lower} lower, significant" if entry["significant"] else "not significant")
                         + f" (paired t p = {entry['p_t_holm']:.2g}, Wilcoxon p = {entry['p_wilcoxon_holm']:.2g}, "
                         "Holm)")
    return block


def interval_text(interval: dict) -> str:
    """A t-interval as ``mean [low, high]`` (the mean alone for one seed), three significant digits."""
    if interval["low"] is None:
        return f"{interval['mean']:.3g}"
    return f"{interval['mean']:.3g} [{interval['low']:.3g}, {interval['high']:.3g}]"

"""The learning check of every iteration: did the new model get worse on labels neither model trained on?

The validation frames of a sampler's iteration k are its calibration frames at k (the starting
calibration split and the calibration share of every batch so far): held out of every training. On
them the previous model (k − 1) and the new one (k) are scored frame by frame, and the paired
differences new − old of the per-frame errors (energy in meV/atom, forces in meV/Å, stress in meV/Å³)
get their median with a 95 % bootstrap interval and a Wilcoxon signed-rank p-value
(:func:`skmd.tools.stats.paired_comparison`). The verdict per quantity: ``worse`` when the interval
lies above 0, ``better`` below 0, ``no clear change`` otherwise.
"""
from __future__ import annotations

from ..tools.error_units import QUANTITY, UNITS
from ..tools.stats import paired_comparison, smallest_significant_n


def compare(old: dict, new: dict, seed: int = 0) -> dict:
    """{quantity: comparison + verdict} from two :func:`skmd.atoms.scoring.score` results on the same frames."""
    result = {}
    for key, quantity in QUANTITY.items():
        unit = UNITS[key]
        a, b = new["per_frame"].get(quantity), old["per_frame"].get(quantity)
        if not a or not b or len(a) != len(b) or len(a) < 2:     # a paired comparison needs two frames
            continue
        comparison = paired_comparison(a, b, seed=seed)
        result[quantity] = {**comparison, "unit": unit, "verdict": verdict(comparison["median_difference"]),
                            "n_frames": len(a)}
    return result


def verdict(interval: dict) -> str:
    """``worse`` where the 95 % interval of new − old lies above 0, ``better`` below, else ``no clear change``."""
    return "worse" if interval["low"] > 0 else "better" if interval["high"] < 0 else "no clear change"


def sentence(name: str, iteration: int, check: dict, test_change: str = "") -> str:
    """The learning check of one sampler and iteration in plain words; ``test_change`` (:func:`test_change`)
    adds how the test RMSEs moved, and a note says when the validation frames are too few to tell."""
    if not check:
        return f"{name}, iteration {iteration}: no learning check (too few validation frames)."
    first = next(iter(check.values()))
    needed = smallest_significant_n()
    too_few = first["n_frames"] < needed
    parts = []
    for quantity, c in check.items():
        d = c["median_difference"]
        word = "" if too_few else f" {c['verdict']}"       # too few frames: the interval alone, no verdict
        parts.append(f"{quantity}{word} ({d['estimate']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}] {c['unit']})")
    paired = f"{first['n_trials']} trials' validation RMSEs" if "n_trials" in first else "per-frame errors"
    if too_few:
        lead = "too few held-out labels to tell whether the new model is worse than the previous one"
    elif any(c["verdict"] == "worse" for c in check.values()):
        lead = "the new model is WORSE than the previous one on held-out labels"
    else:
        lead = "the new model is not worse than the previous one"
    text = (f"{name}, iteration {iteration}: {lead} ({first['n_frames']} validation frames; {paired}, new − old, "
            "median [95 % CI]): " + "; ".join(parts) + ".")
    if too_few:
        text += (f" {first['n_frames']} frames are too few for a signed-rank test to reach p < 0.05 (it needs "
                 f"{needed}): read this as no evidence either way.")
    if test_change:
        text += " Test set: " + test_change + "."
    return text


def test_change(old: dict, new: dict) -> str:
    """The test RMSEs of the previous and the new model, e.g. "forces 810 → 1968 meV/Å"; "" without both."""
    names = {"energy_rmse_meV_atom": "energy", "force_rmse_meV_A": "forces", "stress_rmse_meV_A3": "stress"}
    return ", ".join(f"{names[key]} {old[key]:.4g} → {new[key]:.4g} {UNITS[key]}" for key in names
                     if key in old and key in new)

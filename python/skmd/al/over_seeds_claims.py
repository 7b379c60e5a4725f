"""The vocabulary of a study's verdicts on claims over seeds (:attr:`skmd.al.over_seeds.StudyOverSeeds.claims`).

A verdict is "holds", "does not hold" or "not assessable" (a sampler, a trace or per-basin errors that the
criterion needs is missing), with its summary in a line and the numbers it was decided on. The helpers read
a comparison's result (:func:`skmd.al.over_seeds.compare_runs`); no study's claims live here (the
alanine-dipeptide study's are in :mod:`skmd.studies.ala2_claims`).
"""
from __future__ import annotations

from .seed_tests import SIGNIFICANCE, interval_text, pair_test

HOLDS, FAILS, UNKNOWN = "holds", "does not hold", "not assessable"


def verdict(claim: str, outcome: str, summary: str, **numbers) -> dict:
    """One verdict: the claim in words, HOLDS, FAILS or UNKNOWN, a line, the numbers behind it."""
    return {"claim": claim, "verdict": outcome, "summary": summary, "numbers": numbers}


def missing(result: dict, names) -> list:
    """The samplers among ``names`` that the comparison lacks."""
    return [name for name in names if name not in result["samplers"]]


def final(result: dict, name: str) -> dict:
    """The summary over seeds of the sampler's last iteration."""
    return result["samplers"][name]["iterations"][-1]


def span(interval: dict) -> str:
    """A t-interval as ``mean [low, high] (n = n)`` (no interval for one seed)."""
    return f"{interval_text(interval)} (n = {interval['n']})"


def seed_test(result: dict, quantity: str, a: str, b: str) -> dict | None:
    """The seed-level test of a against b on ``quantity`` (:mod:`skmd.al.seed_tests`, Holm over every pair),
    oriented as a − b; None when the comparison lacks it."""
    pairs = result.get("seed_tests", {}).get(quantity, {}).get("pairs", {})
    if f"{a} vs {b}" in pairs:
        return pairs[f"{a} vs {b}"]
    entry = pairs.get(f"{b} vs {a}")
    if entry is None:
        return None
    interval = entry["difference"]
    flipped = {"mean": -interval["mean"], "n": interval["n"], "values": [-v for v in interval["values"]],
               "low": None if interval["high"] is None else -interval["high"],
               "high": None if interval["low"] is None else -interval["low"]}
    return {**entry, "difference": flipped}


def significantly_lower(entry: dict | None) -> bool:
    """Whether an oriented seed-level test (a − b) says a is lower, significantly (Holm paired-t p < 0.05)."""
    return entry is not None and entry["significant"] and entry["difference"]["mean"] < 0


def significantly_higher(a: list, b: list) -> tuple[bool, dict]:
    """Whether per-seed values a are above b, by one paired t-test over seeds (p < 0.05, mean a − b > 0)."""
    entry = pair_test(a, b)
    return (entry["p_t"] is not None and entry["p_t"] < SIGNIFICANCE and entry["difference"]["mean"] > 0), entry

"""The vocabulary of a study's verdicts on claims over seeds (:attr:`skmd.al.over_seeds.StudyOverSeeds.claims`).

A verdict is "holds", "does not hold" or "not assessable" (a sampler, a trace or per-basin errors that the
criterion needs is missing), with its summary in a line and the numbers it was decided on. The helpers read
a comparison's result (:func:`skmd.al.over_seeds.compare_runs`); no study's claims live here (the
alanine-dipeptide study's are in :mod:`skmd.studies.ala2_claims`).
"""
from __future__ import annotations

from ..tools.stats import t_interval

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


def difference(a: list, b: list) -> dict:
    """Mean and 95 % t-interval over seeds of the per-seed differences a − b."""
    return t_interval([x - y for x, y in zip(a, b)])


def span(interval: dict) -> str:
    """A t-interval as ``mean [low, high] (n = n)`` (no interval for one seed)."""
    if interval["low"] is None:
        return f"{interval['mean']:.3g} (n = {interval['n']})"
    return f"{interval['mean']:.3g} [{interval['low']:.3g}, {interval['high']:.3g}] (n = {interval['n']})"

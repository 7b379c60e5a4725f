"""Verdicts on the papers' claims from a comparison over seeds of alanine-dipeptide campaigns
(:func:`skmd.al.over_seeds.compare_runs` with :data:`skmd.studies.ala2_over_seeds.ALA2`).

The criteria were fixed here before any campaign over seeds was looked at. Sampler names are those of the
``ala2-medium`` preset (md300, md700, skmd, ubmd, udd). Each verdict is "holds", "does not hold" or
"not assessable" (a sampler, a φ/ψ trace or per-basin errors that the criterion needs is missing), with the
numbers it was decided on. "Every seed" means every run compared; "final" the models after the last
iteration; differences come with their mean and 95 % t-interval over seeds.

(a) "SKMD explores more than MD at 700 K": skmd's cumulative φ/ψ coverage after the last iteration
    (10° × 10° cells visited by its walks, from the PhiPsi trace) is above md700's in every seed.
(b) "SKMD gives the lowest fine-tuning error": for every other sampler (skmd-ud, where run, included)
    and in every seed, the paired per-test-frame comparison of the final models' force errors puts skmd
    significantly lower (Wilcoxon p Holm-adjusted over every pair × seed below 0.05, median difference in
    skmd's favour).
(c) "UB-MD gives more uniformly accurate potentials than MD": ubmd's final worst-basin force RMSE (the
    largest over the test set's basins) is below both md300's and md700's in every seed.
(d) "UB-MD captures rare events without knowing the transition temperature": ubmd, run at the campaign's
    temperature, visits in every seed a φ/ψ cell of some basin in which md300 visits no cell over the
    whole campaign. A cell belongs to the basin of its centre by
    :func:`skmd.atoms.alanine.classify_basin` (nearest of the five basin centres within 70°; cells
    farther from every centre belong to none). Needs the PhiPsi trace.
"""
from __future__ import annotations

from ..al.over_seeds_claims import FAILS, HOLDS, UNKNOWN, difference, final, missing, span, verdict

CLAIMS = {"a": "SKMD explores more than MD at 700 K",
          "b": "SKMD gives the lowest fine-tuning error",
          "c": "UB-MD gives more uniformly accurate potentials than MD",
          "d": "UB-MD captures rare events without knowing the transition temperature"}


def _verdict(claim: str, outcome: str, summary: str, **numbers) -> dict:
    return verdict(CLAIMS[claim], outcome, summary, **numbers)


def explores_more(result: dict) -> dict:
    absent = missing(result, ("skmd", "md700"))
    if absent or "coverage_cells" not in final(result, "skmd"):
        return _verdict("a", UNKNOWN, f"needs {', '.join(absent)}" if absent else "needs the PhiPsi trace")
    skmd, md = (final(result, n)["coverage_cells"]["values"] for n in ("skmd", "md700"))
    gap = difference(skmd, md)
    above = sum(a > b for a, b in zip(skmd, md))
    return _verdict("a", HOLDS if above == len(skmd) else FAILS,
                    f"skmd's coverage above md700's in {above} of {len(skmd)} seeds; skmd − md700 = "
                    f"{span(gap)} cells", skmd_cells=skmd, md700_cells=md, difference_cells=gap)


def lowest_error(result: dict) -> dict:
    forces = result["pairs"].get("forces", {})
    others = [name for name in result["samplers"] if name != "skmd"]
    if missing(result, ("skmd",)) or not others or not forces:
        return _verdict("b", UNKNOWN, "needs skmd, another sampler and per-frame force errors")
    wins, lines = {}, []
    for pair, entry in forces.items():
        a, b = pair.split(" vs ")
        if "skmd" not in (a, b):
            continue
        other = b if a == "skmd" else a
        wins[other] = entry["a_lower"] if a == "skmd" else entry["b_lower"]
        lines.append(entry["line"])
    n = result["n_seeds"]
    beaten = [other for other in others if wins.get(other, 0) == n]
    return _verdict("b", HOLDS if len(beaten) == len(others) else FAILS,
                    f"skmd's final force errors significantly lower in every seed than those of {len(beaten)} of "
                    f"{len(others)} other samplers ({', '.join(beaten) or 'none'}); " + "; ".join(lines),
                    seeds_skmd_significantly_lower=wins, n_seeds=n)


def uniformly_accurate(result: dict) -> dict:
    absent = missing(result, ("ubmd", "md300", "md700"))
    if absent or "worst_basin_force_rmse_meV_A" not in final(result, "ubmd"):
        return _verdict("c", UNKNOWN, f"needs {', '.join(absent)}" if absent else "needs test frames with basins")
    worst = {n: final(result, n)["worst_basin_force_rmse_meV_A"]["values"] for n in ("ubmd", "md300", "md700")}
    differences = {f"ubmd - {md}": difference(worst["ubmd"], worst[md]) for md in ("md300", "md700")}
    below = sum(u < a and u < b for u, a, b in zip(worst["ubmd"], worst["md300"], worst["md700"]))
    n = len(worst["ubmd"])
    return _verdict("c", HOLDS if below == n else FAILS,
                    f"ubmd's worst-basin force RMSE below md300's and md700's in {below} of {n} seeds; "
                    + "; ".join(f"{k} = {span(v)} meV/Å" for k, v in differences.items()),
                    worst_basin_force_rmse_meV_A=worst, differences_meV_A=differences)


def rare_events(result: dict) -> dict:
    absent = missing(result, ("ubmd", "md300"))
    if absent or not result.get("basins_reached"):
        return _verdict("d", UNKNOWN, f"needs {', '.join(absent)}" if absent else
                        "needs the PhiPsi trace (the basins are φ/ψ regions of alanine dipeptide)")
    reached = result["basins_reached"]
    only = [sorted(set(u) - set(m)) for u, m in zip(reached["ubmd"], reached["md300"])]
    seeds = sum(bool(o) for o in only)
    temperature = result["config"]["temperature_K"]
    return _verdict("d", HOLDS if seeds == len(only) else FAILS,
                    f"ubmd at {temperature:g} K reaches a basin md300 never reaches in {seeds} of {len(only)} seeds "
                    f"(per seed: {'; '.join(', '.join(o) or 'none' for o in only)})",
                    basins_only_ubmd=only, ubmd_basins=reached["ubmd"], md300_basins=reached["md300"],
                    temperature_K=temperature)


def claims(result: dict) -> dict:
    """{"a" … "d": verdict} (see the module for the criteria)."""
    return {"a": explores_more(result), "b": lowest_error(result), "c": uniformly_accurate(result),
            "d": rare_events(result)}

"""What a campaign leaves in its run directory once every chain has finished: ``training_set.extxyz``
(every label, REF_ keys, merged), ``test_set.extxyz``, ``results.json`` (per sampler and iteration:
labels, oracle calls, test errors in the units of :data:`skmd.tools.error_units.UNITS`, uncertainty stops,
wall time per stage; ``final_model``), and ``report.md`` (:mod:`skmd.al.report`) with
``learning_curves.png``."""
from __future__ import annotations

from dataclasses import asdict

from ..tools.error_units import UNITS
from ..tools.stats import compare_models
from .figures import learning_curves
from .invocations import close_invocation
from .iteration import sampler_models
from .report import report_text
from .run_dir import START_KEY, RunDir, label_key
from .samplers import load_trace
from .starting_stage import START_PARTS
from .traces import summarize

#: seconds per stage of a sampler's iteration in metrics.json: its walks, its labels, its trainings summed, its scoring
STAGES = ("sample_s", "label_s", "train_s", "score_s")


def training_set(run: RunDir, samplers: list, iterations: int, store) -> list:
    """Every label of the campaign, in order: the starting training and calibration labels, then each
    sampler's labels of each iteration; ``info["skmd_source"]`` says where each came from."""
    everything = []
    for part in START_PARTS[:2]:
        for frame in run.read_frames(run.start_file(part)):
            frame.info["skmd_source"] = f"{START_KEY}/{part}"
            everything.append(frame)
    for sampler in samplers:
        for k in range(1, iterations + 1):
            selected = run.read_frames(run.iteration(sampler.name, k) / "selected.extxyz")
            frames = store.results(label_key(sampler.name, k), len(selected))[0]
            for frame in frames:
                frame.info["skmd_source"] = label_key(sampler.name, k)
            everything += frames
    return everything


def write_outputs(run: RunDir, config, samplers: list, store, test: list, *, selector_name: str,
                  skmd_regime: str | None, timing: dict, wall_s_this_run: float) -> dict:
    """Write the training set, the test set, results.json and the report (closing this invocation in
    runs.json); return the results. ``timing``: {"start_s", "iterations_s_this_run"} in s."""
    initial = run.read_json(run.initial_score)
    results = {"config": asdict(config), "units": UNITS, "test_frames": len(test),
               "initial": _without_per_frame(initial), "samplers": {}, "skmd_regime": skmd_regime}
    per_frame = {"start": initial["per_frame"]}         # per-test-frame errors of the final models
    for sampler in samplers:
        iterations = [run.read_json(run.metrics(sampler.name, k)) for k in range(1, config.iterations + 1)]
        per_frame[sampler.name] = iterations[-1]["per_frame"]
        final = run.models(sampler.name, config.iterations, sampler_models(sampler))[0]
        results["samplers"][sampler.name] = {
            "iterations": [_without_per_frame(m) for m in iterations], "final_model": str(final),
            "stage_share": _stage_share(iterations)}
    results["comparisons_final"] = final_comparisons(per_frame, test, config.seed)
    for name, summary in trace_summaries(run, config, samplers).items():
        results["samplers"][name]["visited"] = summary
    everything = training_set(run, samplers, config.iterations, store)
    run.write_frames(run.training_set, everything)
    run.write_frames(run.test_set, test)
    results["final_model"] = {name: r["final_model"] for name, r in results["samplers"].items()}
    results["oracle_calls"] = store.oracle_calls
    results["training_set"] = {"path": str(run.training_set), "frames": len(everything)}
    results["wall_s_this_run"] = wall_s_this_run
    invocations = close_invocation(run.root, wall_s_this_run, finished=True)
    results["wall_s"] = sum(r["wall_s"] or 0.0 for r in invocations)   # every invocation, interrupted ones included
    results["invocations"] = len(invocations)
    results["timing"] = timing
    results["selector"] = selector_name
    run.write_json(run.results, results)
    learning_curves(run.learning_curves, results)
    run.report.write_text(report_text(results))
    return results


def final_comparisons(per_frame: dict, test, seed: int) -> dict:
    """Every pair of final models (and the starting one) on per-test-frame errors (``per_frame``: name →
    a score's ``per_frame``; :func:`skmd.tools.stats.compare_models`): median paired difference with its
    95 % bootstrap interval over test frames (within basins where the frames carry a ``basin``), Wilcoxon p,
    Holm-adjusted. One campaign: the intervals speak to the test set's sampling error, not to run-to-run
    variation."""
    strata = [f.info["basin"] for f in test] if all("basin" in f.info for f in test) else None
    return compare_models(per_frame, seed=seed, strata=strata)


def trace_summaries(run: RunDir, config, samplers: list) -> dict:
    """{sampler: summary of its collective-variable trace} (:mod:`skmd.al.traces`); empty without a trace."""
    cv = load_trace(config.trace)
    if cv is None:
        return {}
    return {s.name: summarize(cv, [run.read_json(run.sampling(s.name, k)).get("trace", [])
                                   for k in range(1, config.iterations + 1)], seed=config.seed)
            for s in samplers}


def _without_per_frame(metrics: dict) -> dict:
    return {key: value for key, value in metrics.items() if key != "per_frame"}


def _stage_share(iterations) -> list:
    """Per iteration, the share of the sampler's time spent sampling, labelling, training and scoring."""
    shares = []
    for m in iterations:
        seconds = {stage: float(m.get(stage, 0.0)) for stage in STAGES}
        total = sum(seconds.values()) or 1.0
        shares.append({stage.removesuffix("_s"): round(value / total, 3) for stage, value in seconds.items()})
    return shares

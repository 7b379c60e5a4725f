"""What a campaign leaves in ``out``: ``training_set.extxyz`` (every label, REF_ keys, merged),
``test_set.extxyz``, ``results.json`` (per sampler and iteration: labels, oracle calls, test errors in
the units of :data:`skmd.atoms.scoring.UNITS`, uncertainty stops, wall time per stage; ``final_model``),
and ``report.md`` with ``learning_curves.png``."""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from ..atoms.scoring import QUANTITY, UNITS
from ..tools.rundir import write_json

STAGES = ("sample_s", "label_s", "train_s", "score_s")


def _labels_of(campaign, name: str, k: int) -> list:
    from ..atoms.store import read_frames  # noqa: PLC0415
    selected = read_frames(campaign.folder(name, k) / "selected.extxyz")
    frames = campaign.store.results(f"{name}/iter{k:02d}", len(selected))[0]
    for frame in frames:
        frame.info["skmd_source"] = f"{name}/iter{k:02d}"
    return frames


def write_outputs(campaign, loop, test, started: float, timing: dict) -> dict:
    """Write the training set, the test set, results.json and the report; return the results."""
    from ..atoms.store import atomic_write_frames, read_frames  # noqa: PLC0415
    c, out = campaign.config, campaign.out
    everything = []
    for kind in ("train", "calibration"):
        for frame in read_frames(out / "start" / f"{kind}.extxyz"):
            frame.info["skmd_source"] = f"start/{kind}"
            everything.append(frame)
    results = {"config": asdict(c), "units": UNITS, "test_frames": len(test),
               "initial": _without_per_frame(json.loads((out / "model0" / "score.json").read_text())),
               "samplers": {}}
    for sampler in campaign.samplers:
        iterations = [json.loads((campaign.folder(sampler.name, k) / "metrics.json").read_text())
                      for k in range(1, c.iterations + 1)]
        for k in range(1, c.iterations + 1):
            everything += _labels_of(campaign, sampler.name, k)
        final = loop.models(sampler, c.iterations)[0]
        results["samplers"][sampler.name] = {
            "iterations": [_without_per_frame(m) for m in iterations], "final_model": str(final),
            "stage_share": _stage_share(iterations)}
    atomic_write_frames(out / "training_set.extxyz", everything)
    atomic_write_frames(out / "test_set.extxyz", test)
    results["final_model"] = {name: r["final_model"] for name, r in results["samplers"].items()}
    results["oracle_calls"] = campaign.store.oracle_calls
    results["training_set"] = {"path": str(out / "training_set.extxyz"), "frames": len(everything)}
    results["wall_s_this_run"] = time.perf_counter() - started
    runs_path = out / "runs.json"
    runs = json.loads(runs_path.read_text()) if runs_path.exists() else []
    runs.append({"wall_s": results["wall_s_this_run"], "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
    write_json(runs_path, runs)
    results["wall_s"] = sum(r["wall_s"] for r in runs)        # every invocation of the command, resumes included
    results["invocations"] = len(runs)
    results["timing"] = timing
    results["selector"] = getattr(campaign.selector, "__name__", type(campaign.selector).__name__)
    write_json(out / "results.json", results)
    from .figures import learning_curves  # noqa: PLC0415
    learning_curves(out / "learning_curves.png", results)
    (out / "report.md").write_text(report_text(results))
    return results


def _without_per_frame(metrics: dict) -> dict:
    return {key: value for key, value in metrics.items() if key != "per_frame"}


def _stage_share(iterations) -> list:
    """Per iteration, the share of its wall time spent sampling, labelling, training and scoring."""
    shares = []
    for m in iterations:
        seconds = {stage: float(m.get("iteration_sample_s" if stage == "sample_s" else stage, 0.0)) for stage in STAGES}
        total = sum(seconds.values()) or 1.0
        shares.append({stage.removesuffix("_s"): round(value / total, 3) for stage, value in seconds.items()})
    return shares


def report_text(results) -> str:
    """report.md: what was run, the learning curves and a table per sampler, in plain words."""
    c = results["config"]
    keys = [key for key in UNITS if key in results["initial"]]
    lines = [f"# skmd al: {Path(c['structures']).name}", "",
             f"Oracle `{c['oracle']}`; samplers {', '.join(results['samplers'])}; {c['iterations']} "
             f"iteration{'s' if c['iterations'] != 1 else ''} of {c['walkers']} walks × {c['steps']} steps, up to "
             f"{c['select']} labels each (selector: {results['selector']}); "
             f"{'NPT at ' + str(c['pressure_GPa']) + ' GPa' if c['pressure_GPa'] is not None else 'NVT'}, "
             f"{c['temperature_K']:g} K; fine-tuning: {c['finetune']}. Test set: {results['test_frames']} frames. "
             f"Oracle calls: {results['oracle_calls']}; wall time {results['wall_s']:.0f} s over "
             f"{results['invocations']} invocation(s) of the command.", "",
             "![learning curves](learning_curves.png)", "",
             "*Test RMSE after each iteration (0 = the starting model); one line per sampler.*", "",
             "| sampler | iteration | labels | " + " | ".join(f"test {QUANTITY[k]} RMSE ({UNITS[k]})" for k in keys)
             + " | uncertainty stops | share: sample/label/train/score |",
             "|---|---|---|" + "---|" * len(keys) + "---|---|",
             "| start | 0 | – | " + " | ".join(f"{results['initial'][k]:.2f}" for k in keys) + " | – | – |"]
    for name, r in results["samplers"].items():
        for m, share in zip(r["iterations"], r["stage_share"]):
            lines.append(f"| {name} | {m['iteration']} | {m['n_labelled']} | "
                         + " | ".join(f"{m[k]:.2f}" for k in keys)
                         + f" | {m.get('threshold_stops', 0)}/{m['n_candidates']} | "
                         + "/".join(f"{share[s]:.0%}" for s in ("sample", "label", "train", "score")) + " |")
    from .learning import sentence  # noqa: PLC0415
    lines += ["", "## Learning check", "",
              "Each new model against the previous one on validation labels that neither trained on "
              "(see skmd.al.learning):", ""]
    lines += [f"* {sentence(name, m['iteration'], m.get('learning_check', {}))}"
              for name, r in results["samplers"].items() for m in r["iterations"]]
    lines += ["", "Final models: " + ", ".join(f"{n}: `{p}`" for n, p in results["final_model"].items()),
              f"Training set: `{results['training_set']['path']}` ({results['training_set']['frames']} frames).", ""]
    return "\n".join(lines)

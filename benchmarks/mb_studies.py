"""Speed and memory of the Müller–Brown studies (issue targets), written to JSON.

    python benchmarks/mb_studies.py [--skip-full] [--out benchmarks/results/mb_studies.json]

Measures, on the NumPy backend:
* wall time and peak RSS of the full ``skmd mb-al`` (50 trials × 4 samplers × 16 iterations),
  the full ``skmd mb-w2`` (100 trials) and ``skmd mb-al --quick``, each in a fresh process;
* the cost of one SKMD step relative to one overdamped Langevin step on the same potential
  (exact Müller–Brown and a 20-unit MLP), for a single ensemble and for a batch of 50 trials.
Targets: mb-al ≤ 600 s and ≤ 2 GB; mb-w2 ≤ 120 s; quick ≤ 60 s.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from skmd.tools.machine import load_average, machine_info

ROOT = Path(__file__).resolve().parents[1]


def run_command(args: list[str]) -> dict:
    """Wall seconds and peak RSS (MB) of one ``skmd`` command in a fresh process."""
    with tempfile.TemporaryDirectory() as out:
        code = ("import resource, sys, time; from skmd.cli.main import main; t = time.perf_counter(); "
                f"rc = main({args + ['--out', out, '--no-progress', '--backend', 'numpy']!r}); "
                "print('BENCH', time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, rc)")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "SKMD_BACKEND": "numpy"})
        line = next(l for l in proc.stdout.splitlines() if l.startswith("BENCH"))
        _, wall, rss_kb, rc = line.split()
        results = json.loads((Path(out) / "results.json").read_text())
    return {"command": "skmd " + " ".join(args), "wall_s": float(wall), "peak_rss_mb": int(rss_kb) / 1024,
            "exit_code": int(rc), "results": results}


def step_ratio(batch: int, repeats: int = 3) -> dict:
    """Seconds per step of SKMD and Langevin on the same potential, same noise, same batch."""
    import skmd  # noqa: PLC0415
    from skmd.studies.mueller_brown import basin_samples  # noqa: PLC0415
    rng = np.random.default_rng(0)
    ensemble = np.stack([basin_samples(32, 4.0, np.random.default_rng(b)) for b in range(batch)])
    mlp = skmd.MLPPotential(rng.standard_normal((batch, 1, 20, 2)), rng.standard_normal((batch, 1, 20)),
                            rng.standard_normal((batch, 1, 20)), np.zeros((batch, 1)), lam=5.0, center=[-0.25, 0.75])
    out = {}
    for label, potential in (("mueller_brown", skmd.MuellerBrown()), ("mlp_20", mlp)):
        timings = {}
        for name in ("langevin", "skmd"):
            best = np.inf
            for _ in range(repeats):
                common = dict(kT=4.0, dt=1e-4, noise=skmd.NoiseStream(1, 2, batch), backend="numpy", bound=2.5)
                if name == "langevin":
                    sampler = skmd.OverdampedLangevin(potential, ensemble, acquisition=skmd.FixedSteps(1000), **common)
                    move = sampler.move_walker
                else:
                    sampler = skmd.SKMD(potential, ensemble, kernel=skmd.GaussianKernel(300.0, "median"),
                                        stopping=skmd.FixedSteps(1000), bandwidth_schedule="initial", **common)
                    move = sampler.move_particle
                started = time.perf_counter()
                for particle in range(4):
                    move(particle)
                best = min(best, (time.perf_counter() - started) / 4000)
            timings[name] = best
        out[label] = {"langevin_s_per_step": timings["langevin"], "skmd_s_per_step": timings["skmd"],
                      "ratio": timings["skmd"] / timings["langevin"]}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "mb_studies.json"))
    parser.add_argument("--skip-full", action="store_true", help="only the quick run and the step ratios")
    args = parser.parse_args()
    report = {"machine": machine_info(),  # at the start; each run below adds the load average at its end
              "backend": "numpy", "targets": {"mb_al_full_s": 600, "mb_al_full_rss_mb": 2048, "mb_w2_full_s": 120,
                                              "mb_al_quick_s": 60}}
    report["step_ratio"] = {"single_ensemble": step_ratio(1), "batch_50": step_ratio(50)}
    runs = {"mb_al_quick": ["mb-al", "--quick"]}
    if not args.skip_full:
        runs.update({"mb_al_full": ["mb-al"], "mb_w2_full": ["mb-w2"]})
    for key, command in runs.items():
        result = run_command(command)
        report[key] = {k: v for k, v in result.items() if k != "results"}
        report[key]["load_average_at_end"] = load_average()
        report[key]["sampler_wall_s"] = {n: r["wall_s"] for n, r in
                                         result["results"].get("samplers", result["results"].get("methods", {})).items()}
        print(f"{key}: {result['wall_s']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB", flush=True)
    report["machine_at_end"] = machine_info()
    for label, value in report["step_ratio"].items():
        print(label, {k: round(v["ratio"], 2) for k, v in value.items()})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

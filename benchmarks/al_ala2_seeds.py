"""The alanine-dipeptide campaign over seeds: ``skmd al --preset P --seed S`` for each seed, then compared.

Runs (or resumes) ``skmd al --preset P --seed S --workers W --out ROOT/seedS`` in a subprocess for each
of ``--seeds`` (a finished run, one whose results.json covers every iteration, is skipped; an unfinished
one resumes), then writes benchmarks/results/al_ala2_seeds.json:

- ``comparison``: :func:`skmd.al.over_seeds.compare_runs` of the run directories with the alanine-dipeptide
  study's coverage and claims (:data:`skmd.studies.ala2_over_seeds.ALA2`; means and 95 %
  t-intervals over seeds, per-seed paired tests Holm-adjusted over pairs × seeds, the claims' verdicts);
- ``wall_s``: per seed, this call's seconds (None when skipped) and the campaign's own total over all its
  invocations; ``stages``: per seed, the starting stage's seconds and per iteration the seconds of
  sampling, labelling, training and scoring with their shares (``al_ala2_medium.iteration_times``);
- ``command``: the command of one seed; ``machine``; ``commit``: the git commit of this call;
  ``run_commits``: per seed, the commit of every call that ran (or resumed) it, in order
  (ROOT/commits.json; "unknown" first where a seed had started before it was recorded), so seeds
  spread over sessions can be checked to have run the same code; ``same_code`` says whether they did.

Any further arguments are passed on to every ``skmd al`` command (e.g. ``--iterations 1`` to shrink it);
they are recorded. The ala2-medium preset takes over an hour per seed on 2 cores.

Run: .venv/bin/python benchmarks/al_ala2_seeds.py [--preset ala2-medium] [--seeds 0 1 2] [--workers 2]
     [--root runs/ala2-seeds] [--result FILE.json] [skmd al flags ...]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULT = HERE / "results" / "al_ala2_seeds.json"


def finished(out: Path) -> bool:
    """Whether ``out`` holds a campaign whose results.json covers every iteration of its config."""
    path = out / "results.json"
    if not path.is_file():
        return False
    from skmd.al.over_seeds import unfinished_samplers
    return not unfinished_samplers(json.loads(path.read_text()))


def commit() -> str | None:
    """The git commit of this checkout (with ``-dirty`` when it has uncommitted changes), or None."""
    from skmd.tools.machine import source_commit
    return source_commit(HERE)


def read_commits(commits_file: Path) -> dict:
    """{seed: [commit, ...]} from ``commits_file`` (a single commit string counts as a list of one)."""
    commits = json.loads(commits_file.read_text()) if commits_file.is_file() else {}
    return {seed: [value] if isinstance(value, str) else list(value) for seed, value in commits.items()}


def record_commit(commits_file: Path, seed: int, out: Path) -> None:
    """Append this checkout's commit to ``seed``'s list in ``commits_file`` ("unknown" first for a seed
    whose campaign had started before any commit was recorded for it)."""
    commits = read_commits(commits_file)
    seen = commits.get(str(seed)) or (["unknown"] if (out / "start").exists() else [])
    commits[str(seed)] = seen + [commit()]
    commits_file.parent.mkdir(parents=True, exist_ok=True)
    commits_file.write_text(json.dumps(commits, indent=1))


def command_of(preset: str, seed: int, workers: int, out: Path, extra: list) -> list:
    return [sys.executable, "-m", "skmd.cli.main", "al", "--preset", preset, "--seed", str(seed),
            "--workers", str(workers), "--out", str(out), *extra]


def run_seed(command: list, out: Path) -> float | None:
    """Run (or resume) one seed's campaign unless it is finished; its wall seconds, or None if skipped."""
    if finished(out):
        print(f"{out}: finished, skipped", flush=True)
        return None
    started = time.perf_counter()
    done = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[3:])} failed with exit code {done.returncode}; rerun to resume")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="ala2-medium")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--root", default="runs/ala2-seeds", help="run directories ROOT/seed<S>")
    parser.add_argument("--result", default=str(RESULT), help="the JSON to write")
    args, extra = parser.parse_known_args()
    if len(set(args.seeds)) < 2:
        raise SystemExit("give at least 2 distinct --seeds")
    from al_ala2_medium import iteration_times   # this folder: the stage times of one campaign
    from skmd.al.over_seeds import compare_runs, render_markdown
    from skmd.studies.ala2_over_seeds import ALA2
    from skmd.tools.machine import machine_info
    outs = {seed: Path(args.root) / f"seed{seed}" for seed in args.seeds}
    machine = machine_info()                 # before the runs, with the load of that moment
    walls, stages = {}, {}
    commits_file = Path(args.root) / "commits.json"
    for seed, out in outs.items():
        command = command_of(args.preset, seed, args.workers, out, extra)
        if not finished(out):
            record_commit(commits_file, seed, out)
        this_call = run_seed(command, out)
        results = json.loads((out / "results.json").read_text())
        walls[str(seed)] = {"this_call_s": this_call, "campaign_s": results["wall_s"]}
        stages[str(seed)] = {"start_s": results.get("timing", {}).get("start_s"),
                             "iterations": iteration_times(results)}
    run_commits = read_commits(commits_file)
    run_commits = {str(seed): run_commits.get(str(seed), ["unknown"]) for seed in args.seeds}
    comparison = compare_runs(list(outs.values()), ALA2)
    summary = {"command": " ".join(["skmd", *command_of(args.preset, "S", args.workers, Path(args.root) / "seedS",
                                                        extra)[3:]]),
               "preset": args.preset, "seeds": args.seeds, "extra_flags": extra, "workers": args.workers,
               "threads_per_process": 1, "wall_s": walls, "stages": stages, "machine": machine,
               "machine_recorded": "as the runs started" if any(w["this_call_s"] for w in walls.values())
               else "when comparing runs finished earlier", "commit": commit(),
               "run_commits": run_commits,
               "same_code": len({c for commits in run_commits.values() for c in commits}) == 1,
               "comparison": comparison}
    Path(args.result).parent.mkdir(parents=True, exist_ok=True)
    Path(args.result).write_text(json.dumps(summary, indent=2))
    print(render_markdown(comparison, ALA2))
    print(f"wrote {args.result}")


if __name__ == "__main__":
    main()

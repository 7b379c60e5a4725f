"""How long ``skmd --help`` and ``skmd <command> --help`` take, as a ratio to ``python -c 'import ase'``.

Target (the issue "A first hour that works"): every help and argument error no slower than importing ASE,
i.e. ratio <= 1 within the noise. Each command runs ``--repeats`` times in a fresh interpreter, alternating
with the reference so that load changes hit both alike; the medians are compared. Writes
``benchmarks/results/cli_startup.json`` (default) with the machine it ran on.

    python benchmarks/cli_startup.py [--repeats 15] [--out benchmarks/results/cli_startup.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from skmd.tools.machine import machine_info

REFERENCE = "python -c 'import ase'"
COMMANDS = {"skmd --help": ["--help"], **{f"skmd {c} --help": [c, "--help"]
                                          for c in ("info", "al", "mb-al", "mb-w2", "ala2", "ubmd")},
            "skmd ala2 --bad-flag (argument error)": ["ala2", "--bad-flag"]}


def wall_s(argv) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def measure(repeats: int) -> dict:
    reference = [sys.executable, "-c", "import ase"]
    wall_s(reference)                                   # warm the file cache once
    results = {}
    for name, args in COMMANDS.items():
        command = [sys.executable, "-m", "skmd.cli.main", *args]
        wall_s(command)
        ours, theirs = [], []
        for _ in range(repeats):
            ours.append(wall_s(command))
            theirs.append(wall_s(reference))
        median, reference_median = statistics.median(ours), statistics.median(theirs)
        results[name] = {"median_s": round(median, 4), "reference_median_s": round(reference_median, 4),
                         "ratio": round(median / reference_median, 3)}
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "cli_startup.json"))
    args = parser.parse_args(argv)
    commands = measure(args.repeats)
    record = {"reference": REFERENCE, "repeats": args.repeats, "target": "ratio <= 1 (no slower than importing ase)",
              "machine": machine_info(), "commands": commands}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    for name, r in commands.items():
        print(f"{name:>40}: {r['median_s']:.3f} s, ratio {r['ratio']:.2f} to import ase ({r['reference_median_s']:.3f} s)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

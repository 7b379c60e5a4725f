"""The GPU path in one short run, for a session that is lent a GPU machine (the ``device`` tool).

1. Lockstep against one-by-one MD walkers on the card (``batched_walkers.py --device cuda``).
2. One training (``mace_run_train --device cuda`` through skmd) against the same on the CPU: median
   epoch time of the Cu surrogate of ``training_threads.py``.

Writes ``OUT/batched_walkers_cuda.json`` and ``OUT/training_cuda.json`` (each with the card's name and
the machine). Run there: ``python benchmarks/gpu_check.py --out $OUT`` (about 5 minutes on an H100).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import batched_walkers
import torch
from training_threads import epoch_seconds, labelled_cells

from skmd.atoms.oracle import write_extxyz
from skmd.atoms.training import SurrogateSettings, train_surrogate
from skmd.tools.machine import machine_info, source_commit


def training_on(device: str, data: Path, folder: Path, epochs: int, threads: int) -> dict:
    work = folder / device
    train_surrogate(data, work, {29: 0.0}, SurrogateSettings(epochs=epochs, stress_weight=100.0), device=device,
                    threads=threads)
    seconds, reported = epoch_seconds(work)
    return {"device": device, "epoch_s": seconds, "threads": reported}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--device", default="cuda", help="cuda (the check); cpu only to try the script itself")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 walkers, 1 epoch")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    card = torch.cuda.get_device_name(0) if args.device == "cuda" else "none"
    size = ["--walkers", "2", "--steps", "2", "--repeats", "1", "--freeze-members", "2"] if args.quick else \
        ["--repeats", "3", "--steps", "20"]
    batched_walkers.main(["--device", args.device, "--threads", str(args.threads), *size,
                          "--out", str(args.out / "batched_walkers_cuda.json")])
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "train.extxyz"
        write_extxyz(data, labelled_cells(24))
        epochs = 2 if args.quick else args.epochs
        runs = [training_on(device, data, Path(folder), epochs, args.threads) for device in (args.device, "cpu")]
    result = {"gpu": card, "system": "24 EMT-labelled 32-atom Cu cells, stress loss, batch 10", "runs": runs,
              "cpu_over_gpu_epoch": runs[1]["epoch_s"] / runs[0]["epoch_s"],
              "commit": source_commit(Path(__file__).parent), "machine": machine_info()}
    (args.out / "training_cuda.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

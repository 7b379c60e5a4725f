"""Steps per second of independent MD walkers: lockstep (one batched MACE call per step for all
walkers) against one by one (one call per walker per step), measured side by side in one run.

System: 30 alanine-dipeptide walkers (22 atoms, C7eq rattled by 0.03 Å), Langevin at 300 K,
0.5 fs; model: a MACE of the campaign surrogate's size (32 invariant channels, L = 0, 2 layers;
random weights: the cost of a call does not depend on them). For each dtype and thread count, the
two drivers run the same round (one walk of ``--steps`` steps per walker) in alternating order,
``--repeats`` times; the median steps/s of each and their ratio are reported, with the model calls
made. The trajectories of the two drivers agree (tests/test_lockstep.py). Also the cost of freezing
SKMD members (their descriptor Jacobians) one by one against collated, and of the Jacobian's rows by
``is_grads_batched`` against one backward pass each.

Writes benchmarks/results/batched_walkers.json (the machine, its CPU model and thread counts with
it). Run: .venv/bin/python benchmarks/batched_walkers.py [--device cuda] [--out PATH]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from skmd.atoms import IndependentWalkers, Langevin, MACEDescriptorCalculator, build_mace
from skmd.atoms.alanine import rattled_ensemble
from skmd.tools.device import resolve_device
from skmd.tools.machine import machine_info, source_commit
from skmd.tools.threads import set_threads

TARGET_RATIO = 3.0      # issue: batched / one-by-one steps/s of 30 ala2 MD walkers on 2 cores


def steps_per_second(calculator, frames, steps: int, lockstep: bool) -> tuple[float, int]:
    """Walker-steps per second of one round (one walk per walker) and the model calls it made."""
    driver = IndependentWalkers(frames, calculator, Langevin(300.0, 0.5, 100.0), steps=steps, seed=0,
                                lockstep=lockstep)
    calls = calculator.calls
    started = time.perf_counter()
    driver.run(len(frames))
    elapsed = time.perf_counter() - started
    assert not driver.dropped, "a benchmark walk diverged"
    return len(frames) * steps / elapsed, calculator.calls - calls


def measure(model, frames, dtype: str, device: str, steps: int, repeats: int) -> dict:
    calculator = MACEDescriptorCalculator(model, dtype=dtype, device=device)
    steps_per_second(calculator, frames[:2], 2, lockstep=True)        # warm-up
    rates = {"lockstep": [], "one_by_one": []}
    calls = {}
    for repeat in range(repeats):
        order = ("lockstep", "one_by_one") if repeat % 2 == 0 else ("one_by_one", "lockstep")
        for mode in order:
            rate, n_calls = steps_per_second(calculator, frames, steps, lockstep=mode == "lockstep")
            rates[mode].append(rate)
            calls[mode] = n_calls
    median = {mode: float(np.median(values)) for mode, values in rates.items()}
    return {"dtype": dtype, "walker_steps_per_s": median, "all_walker_steps_per_s": rates,
            "model_calls_per_round": calls, "ratio": median["lockstep"] / median["one_by_one"]}


def freeze_cost(model, frames, dtype: str, device: str) -> dict:
    """Seconds per member to freeze SKMD members (forces, descriptor, Jacobian): one by one against
    collated (:func:`~skmd.atoms.stein_bias.freeze_many`), and the Jacobian's M rows by
    ``is_grads_batched`` (vmap) against one backward pass per row, on the same collated graph."""
    import torch  # noqa: PLC0415

    from skmd.atoms.stein_bias import freeze, freeze_many  # noqa: PLC0415
    calculator = MACEDescriptorCalculator(model, dtype=dtype, device=device)
    freeze(frames[0], calculator)                                        # warm-up
    started = time.perf_counter()
    for atoms in frames:
        freeze(atoms, calculator)
    one_by_one = (time.perf_counter() - started) / len(frames)
    started = time.perf_counter()
    freeze_many(frames, calculator)
    collated = (time.perf_counter() - started) / len(frames)
    descriptor = calculator.descriptor
    batch = descriptor._collate(frames)
    batch["positions"].requires_grad_(True)
    summed = descriptor._pool(descriptor.model(batch, compute_force=False, training=False)["node_feats"],
                              batch).sum(dim=0)
    basis = torch.eye(summed.shape[0], dtype=summed.dtype, device=summed.device)
    started = time.perf_counter()
    torch.autograd.grad(summed, batch["positions"], grad_outputs=basis, retain_graph=True, is_grads_batched=True)
    vmapped = (time.perf_counter() - started) / len(frames)
    started = time.perf_counter()
    for row in basis:
        torch.autograd.grad(summed, batch["positions"], grad_outputs=row, retain_graph=True)
    rows = (time.perf_counter() - started) / len(frames)
    return {"dtype": dtype, "members": len(frames), "seconds_per_member": {
        "freeze_one_by_one": one_by_one, "freeze_collated": collated,
        "jacobian_rows_is_grads_batched": vmapped, "jacobian_rows_one_backward_each": rows}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--walkers", type=int, default=30)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--freeze-members", type=int, default=8)
    parser.add_argument("--out", default="benchmarks/results/batched_walkers.json")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    model = build_mace(channels=32, max_L=0, num_interactions=2, seed=0)
    frames = rattled_ensemble(args.walkers)
    runs = []
    for threads in args.threads:
        set_threads(threads)
        for dtype in ("float32", "float64"):
            run = measure(model, frames, dtype, device, args.steps, args.repeats)
            run["torch_threads"] = threads
            runs.append(run)
            print(f"{device} {dtype} {threads} thread(s): lockstep {run['walker_steps_per_s']['lockstep']:.1f}, "
                  f"one by one {run['walker_steps_per_s']['one_by_one']:.1f} walker-steps/s: {run['ratio']:.2f}x")
    freezing = [freeze_cost(model, frames[:args.freeze_members], dtype, device) for dtype in ("float32", "float64")]
    for run in freezing:
        print(f"freeze {run['dtype']}: " + ", ".join(f"{k} {v:.3f} s" for k, v in run["seconds_per_member"].items()))
    result = {"system": f"{args.walkers} alanine-dipeptide walkers (22 atoms), Langevin 300 K, 0.5 fs",
              "model": "MACE 32x0e, 2 interactions (the campaign surrogate's size)", "device": device,
              "steps_per_walk": args.steps, "repeats": args.repeats, "runs": runs,
              "freeze": freezing, "freeze_threads": args.threads[-1],
              "target_ratio": TARGET_RATIO, "commit": source_commit(Path(__file__).parent),
              "machine": machine_info()}
    if device == "cuda":
        import torch  # noqa: PLC0415
        result["gpu"] = torch.cuda.get_device_name(0)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()

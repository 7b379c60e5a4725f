"""Build the ala2-h2h head-to-head's shipped starting point and ideal-data pool (issue #30), once.

Stages (each skipped when its file exists, so the script resumes; run them in order, ``ideal`` any time):

* ``thermal``: 120 GFN2-xTB-labelled thermal frames near C7eq (:data:`skmd.studies.ala2_h2h.THERMAL`);
* ``surrogate``: the 32-channel MACE trained on them to convergence (:data:`~skmd.studies.ala2_h2h.SURROGATE`);
* ``ensemble``: 15 walkers relaxed and burned in with it (:data:`~skmd.studies.ala2_h2h.ENSEMBLE`);
* ``ideal``: the ideal-data control's 200 labelled frames, 40 per test-set basin (:data:`~skmd.studies.ala2_h2h.IDEAL`).

Writes python/skmd/data/ala2_h2h/{thermal.extxyz, surrogate.safetensors, ensemble.extxyz, ideal.extxyz} and
manifest.json (settings, sha256, times, machine). The settings were fixed in docs/ala2-h2h-protocol.md before
any head-to-head result; the script refuses to rebuild a shipped file unless given --overwrite.
Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ala2_h2h_start.py --stage thermal  (then surrogate, ensemble, ideal)
"""
from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import mace  # noqa: F401  mace before e3nn
from ase.io import read, write
from skmd.atoms.oracle import gfn2_xtb
from skmd.atoms.training import isolated_atom_energies
from skmd.studies import ala2_h2h
from skmd.tools.files import file_sha256
from skmd.tools.machine import machine_info

DATA = Path(__file__).resolve().parents[1] / "python" / "skmd" / "data" / "ala2_h2h"
WORK = Path(__file__).resolve().parent / "work" / "ala2_h2h"
C7EQ = Path(__file__).resolve().parents[1] / "python" / "skmd" / "data" / "structures" / "ala2_c7eq.extxyz"
FILES = {"thermal": "thermal.extxyz", "surrogate": "surrogate.safetensors", "ensemble": "ensemble.extxyz",
         "ideal": "ideal.extxyz"}
SETTINGS = {"thermal": ala2_h2h.THERMAL, "surrogate": ala2_h2h.SURROGATE, "ensemble": ala2_h2h.ENSEMBLE,
            "ideal": ala2_h2h.IDEAL}


def build(stage: str) -> dict:
    """Run one stage; returns what the manifest records about it (besides settings and sha256)."""
    if stage in ("thermal", "ideal"):
        frames = ala2_h2h.thermal_frames() if stage == "thermal" else ala2_h2h.ideal_frames()
        write(DATA / FILES[stage], frames, format="extxyz")
        energies = [f.info["REF_energy"] for f in frames]
        return {"frames": len(frames), "energy_range_eV": [min(energies), max(energies)],
                "basins": sorted({f.info["basin"] for f in frames})}
    if stage == "surrogate":
        thermal = read(DATA / FILES["thermal"], index=":")
        e0s = isolated_atom_energies(gfn2_xtb, sorted({int(z) for f in thermal for z in f.numbers}))
        WORK.mkdir(parents=True, exist_ok=True)
        trained = ala2_h2h.converged_surrogate(DATA / FILES["thermal"], WORK / "surrogate", e0s, threads=2)
        (DATA / FILES["surrogate"]).write_bytes(Path(trained).read_bytes())
        return {"e0s_eV": {str(z): e for z, e in e0s.items()}, "training_log_tail": _log_tail(WORK / "surrogate")}
    ensemble = ala2_h2h.burned_in_ensemble(read(C7EQ), DATA / FILES["surrogate"])
    write(DATA / FILES["ensemble"], ensemble, format="extxyz")
    return {"walkers": len(ensemble), "median_pairwise_rmsd_A": ala2_h2h.spread_A(ensemble)}


def _log_tail(work_dir: Path) -> list:
    """The last epochs mace logged (its validation lines), for the manifest."""
    logs = sorted(work_dir.glob("logs/*.log"))
    if not logs:
        return []
    lines = [line.strip() for line in logs[-1].read_text().splitlines() if "Epoch" in line]
    return lines[-3:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=list(FILES), required=True)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    target = DATA / FILES[args.stage]
    if target.exists() and not args.overwrite:
        raise SystemExit(f"{target} exists (shipped); --overwrite rebuilds it")
    started = time.perf_counter()
    record = build(args.stage)
    manifest_path = DATA / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest[args.stage] = {"file": FILES[args.stage], "sha256": file_sha256(target), "settings": SETTINGS[args.stage],
                            "seconds": round(time.perf_counter() - started, 1), "machine": machine_info(),
                            "built": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                            **record}
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in manifest[args.stage].items() if k != "machine"}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()

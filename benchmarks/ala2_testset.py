"""Build the fixed alanine-dipeptide test set (issue #11, part 2) and its manifest.

Five basins (C7eq, C5, αR, C7ax, αL), 60 frames each, drawn by GFN2-xTB Langevin MD at 300 K
from restrained-relaxed starts and labelled by GFN2-xTB. αR and αL are not stable at 300 K in
gas-phase GFN2-xTB (in an unrestrained trial run, αR fell into C7eq after about 0.5 ps and αL
into C7ax after about 1 ps), so their MD runs under a weak flat-bottom φ/ψ restraint; the labels
are always the bare oracle's.

Writes python/skmd/data/ala2_testset.extxyz and its manifest python/skmd/data/ala2_testset.json (package data:
the wheel carries both).
The set is fixed: it was built once, before any sampler result, and must not be rebuilt;
the script refuses to overwrite it unless given --overwrite.
Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ala2_testset.py
"""
from __future__ import annotations

import argparse
import datetime
import json
import time
from collections import Counter
from importlib.metadata import version
from pathlib import Path

import ase
import numpy as np
from ase.io import write

from skmd.atoms.oracle import Oracle, gfn2_xtb
from skmd.studies.ala2_testset import BASIN_CENTRES, BASIN_RADIUS_DEG, OTHER, angle_difference, build_testset
from skmd.tools.files import file_sha256
from skmd.tools.labels import ENERGY_KEY, FORCES_KEY, reference_labels
from skmd.tools.machine import machine_info

SEED = 0
SETTINGS = {"frames_per_basin": 60, "stride": 80, "equilibration": 1000, "timestep_fs": 0.5,
            "temperature_K": 300.0, "friction_per_fs": 0.01, "restrained": ["αR", "αL"],
            "restraint_half_width": 30.0, "restraint_k": 2.0}
#: Units and meaning of SETTINGS, written next to them in the manifest.
SETTINGS_NOTES = {
    "stride": "MD steps between kept frames (40 fs at 0.5 fs)",
    "equilibration": "MD steps discarded before the first kept frame",
    "friction_per_fs": "ASE Langevin friction, 1/fs",
    "restrained": "basins whose MD (not labels) runs under a flat-bottom harmonic φ/ψ restraint",
    "restraint_half_width": "degrees from the basin centre before the restraint acts",
    "restraint_k": "eV/rad² beyond the flat bottom",
    "classification": f"a frame's basin is the nearest centre on the periodic φ/ψ torus within "
                      f"{BASIN_RADIUS_DEG:g}°, else '{OTHER}'",
}


def _range(values, digits: int) -> list:
    return [round(float(np.min(values)), digits), round(float(np.max(values)), digits)]


def basin_summary(frames) -> dict:
    """Per target basin: frame count, counts by the basin each frame is in, φ/ψ offsets from its centre, energies."""
    summary = {}
    for name in BASIN_CENTRES:
        own = [f for f in frames if f.info["target_basin"] == name]
        offsets = angle_difference([[f.info["phi"], f.info["psi"]] for f in own], BASIN_CENTRES[name])   # (n, 2)
        energies = np.array([reference_labels(f).energy for f in own])
        summary[name] = {"frames": len(own), "in_basin": dict(Counter(f.info["basin"] for f in own)),
                         "phi_offset_range_deg": _range(offsets[:, 0], 1),
                         "psi_offset_range_deg": _range(offsets[:, 1], 1), "energy_range_eV": _range(energies, 4)}
    return summary


def main(data="python/skmd/data/ala2_testset.extxyz", manifest="python/skmd/data/ala2_testset.json",
         overwrite=False):
    data, manifest = Path(data), Path(manifest)
    if data.exists() and not overwrite:
        raise SystemExit(f"{data} exists and is fixed; pass --overwrite only if no sampler result has used it")
    started = time.perf_counter()
    frames = build_testset(Oracle(gfn2_xtb), gfn2_xtb, seed=SEED, **SETTINGS)
    wall_s = time.perf_counter() - started
    data.parent.mkdir(parents=True, exist_ok=True)
    data.unlink(missing_ok=True)
    write(str(data), frames, format="extxyz")
    record = {"seed": SEED, "settings": SETTINGS, "settings_notes": SETTINGS_NOTES,
              "basin_centres_deg": BASIN_CENTRES, "frames": len(frames),
              "counts_by_target_basin": dict(Counter(f.info["target_basin"] for f in frames)),
              "counts_by_basin": dict(Counter(f.info["basin"] for f in frames)),
              "per_basin": basin_summary(frames), "file": str(data), "sha256": file_sha256(data),
              "size_bytes": data.stat().st_size, "energy_key": ENERGY_KEY, "forces_key": FORCES_KEY,
              "oracle": f"GFN2-xTB (tblite {version('tblite')}, ASE {ase.__version__})",
              "built_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "wall_s": round(wall_s, 1), "machine": machine_info()}
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: record[k] for k in ("frames", "counts_by_basin", "sha256", "wall_s")}, ensure_ascii=False))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--overwrite", action="store_true",
                        help="rebuild an existing set (never after a sampler result)")
    main(overwrite=parser.parse_args().overwrite)

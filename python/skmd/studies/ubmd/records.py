"""What a ``skmd ubmd`` run reports: visited regions (φ/ψ coverage or cell volumes) and figures."""
from __future__ import annotations

import json

import numpy as np

from ...tools.rundir import write_json

__all__ = ["results_summary", "visited", "write_json"]


def visited(study, sampler) -> dict:
    """What the walkers of ``sampler`` visited over all iterations: Ramachandran coverage (10° cells)
    for the molecule; per pressure the smallest and largest cell volume (Å³) for the periodic system.
    Walkers dropped for divergence visited nothing (their trace is not kept); they are counted."""
    walkers = []
    for k in range(1, study.config.iterations + 1):
        walkers += json.loads((study.folder(sampler.name, k) / "sampling.json").read_text())["walkers"]
    counts = {"threshold_stops": sum(w["stopped"] for w in walkers), "walker_runs": len(walkers),
              "dropped_walkers": sum(bool(w.get("dropped")) for w in walkers)}
    if study.config.system == "ala2":
        from ..ala2_metrics import ramachandran_coverage  # noqa: PLC0415
        angles = np.concatenate([np.reshape(w["visited"], (-1, 2)) for w in walkers])
        return {"ramachandran_coverage": ramachandran_coverage(angles), "phi_psi": angles.tolist(), **counts}
    volumes = {}
    for w in walkers:
        volumes.setdefault(f"{w['pressure_GPa']:g}", []).extend(w["visited"])
    return {"volumes": volumes, **counts, "n_atoms": len(study.initial[0]),
            "volume_range_A3": {p: [min(v), max(v)] for p, v in volumes.items() if v}}


def _pyplot():
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    return plt


def _error_keys(results) -> list:
    keys = [("energy_rmse_meV_atom", "energy RMSE (meV/atom)"), ("force_rmse_meV_A", "force RMSE (meV/Å)")]
    if "stress_rmse_meV_A3" in results["initial"]:
        keys.append(("stress_rmse_meV_A3", "stress RMSE (meV/Å³)"))
    return keys


def rmse_figure(path, results) -> None:
    plt = _pyplot()
    keys = _error_keys(results)
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.2))
    for ax, (key, title) in zip(axes, keys):
        for name, r in results["samplers"].items():
            values = [results["initial"][key]] + [h[key] for h in r["iterations"]]
            ax.plot(range(len(values)), values, "o-", label=name)
        ax.set(xlabel="iteration", title=title)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def visited_figure(path, results) -> None:
    plt = _pyplot()
    samplers = results["samplers"]
    fig, axes = plt.subplots(1, len(samplers), figsize=(3.6 * len(samplers), 3.4), squeeze=False)
    for ax, (name, r) in zip(axes[0], samplers.items()):
        if "phi_psi" in r:
            angles = np.reshape(r["phi_psi"], (-1, 2))
            ax.plot(angles[:, 0], angles[:, 1], ".", ms=2)
            ax.set(xlim=(-180, 180), ylim=(-180, 180), xlabel="φ (°)", ylabel="ψ (°)",
                   title=f"{name}: coverage {r['ramachandran_coverage']:.3f}")
        else:
            for pressure, volumes in r["volumes"].items():
                ax.plot(np.asarray(volumes) / r["n_atoms"], ".", ms=2, label=f"{pressure} GPa")
            ax.set(xlabel="recorded frame", ylabel="volume per atom (Å³)", title=name)
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def results_summary(study, results) -> None:
    """Write the figures of ``results`` into the run directory."""
    system = study.config.system
    rmse_figure(study.out / f"ubmd_{system}_rmse.png", results)
    visited_figure(study.out / f"ubmd_{system}_visited.png", results)

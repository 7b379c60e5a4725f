"""What a ``skmd ubmd`` run reports: visited regions (φ/ψ coverage or cell volumes) and figures
(``ubmd_<system>_rmse.png``, ``ubmd_<system>_visited.png``)."""
from __future__ import annotations

import json

import numpy as np

from ...tools.rundir import write_json
from ..figure_tools import integer_axis, iteration_scale, pyplot, save

__all__ = ["results_summary", "trace_every", "visited", "write_json"]

SYSTEM_TITLES = {"ala2": "alanine dipeptide", "periodic": "diamond Si", "co2": "CO2 molecular crystal"}


def trace_every(config) -> int:
    """Steps between two recorded points of a walk's trace (cell volume or φ/ψ)."""
    return max(1, config.interval // 10)


def visited(study, sampler) -> dict:
    """What the walkers of ``sampler`` visited over all iterations: Ramachandran coverage (10° cells)
    with every φ/ψ and the iteration that visited it, for the molecule; for the periodic system every
    walk's cell volumes (Å³) with its iteration and pressure, and per pressure the smallest and largest
    volume. Walkers dropped for divergence visited nothing (their trace is not kept); they are counted."""
    walkers = []
    for k in range(1, study.config.iterations + 1):
        found = json.loads((study.folder(sampler.name, k) / "sampling.json").read_text())["walkers"]
        walkers += [{**w, "iteration": k} for w in found]
    counts = {"threshold_stops": sum(w["stopped"] for w in walkers), "walker_runs": len(walkers),
              "dropped_walkers": sum(bool(w.get("dropped")) for w in walkers), "n_atoms": len(study.initial[0]),
              "trace_every_fs": trace_every(study.config) * study.config.timestep_fs}
    if study.config.system == "ala2":
        from ..ala2_metrics import ramachandran_coverage  # noqa: PLC0415
        per_walk = [np.reshape(w["visited"], (-1, 2)) for w in walkers]
        angles = np.concatenate(per_walk)
        iteration = np.concatenate([np.full(len(a), w["iteration"]) for a, w in zip(per_walk, walkers)])
        return {"ramachandran_coverage": ramachandran_coverage(angles), "phi_psi": angles.tolist(),
                "phi_psi_iteration": iteration.tolist(), **counts}
    volumes = {}
    for w in walkers:
        volumes.setdefault(f"{w['pressure_GPa']:g}", []).extend(w["visited"])
    walks = [{"iteration": w["iteration"], "pressure_GPa": w["pressure_GPa"], "volumes_A3": w["visited"]}
             for w in walkers if w["visited"]]
    return {"walks": walks, **counts, "volume_range_A3": {p: [min(v), max(v)] for p, v in volumes.items() if v}}


def _sampler_title(name: str, results) -> str:
    r, tau = results["samplers"][name], results["config"]["tau"]
    kind = f"UB-MD (biased, τ = {tau:g})" if r.get("biased") else "plain MD"
    return f"{name}: {kind} at {r.get('temperature_K', 0):g} K"


def _run_title(results) -> str:
    """Two lines: the system and ensemble, then the run's size (iterations, walkers, steps, labels, seed)."""
    c = results["config"]
    system = SYSTEM_TITLES.get(c["system"], c["system"])
    atoms = next(iter(results["samplers"].values())).get("n_atoms")
    npt = c["system"] != "ala2"
    where = f"NPT at {', '.join(f'{p:g}' for p in c['pressures_GPa'])} GPa" if npt else "NVT"
    walkers = f"{c['walkers']} walker{'s' * (c['walkers'] != 1)}{' per pressure' if npt else ''}"
    size = f" ({atoms} atoms)" if atoms else ""
    return (f"skmd ubmd --system {c['system']}: {system}{size}, {where}, seed {c['seed']}\n"
            f"{c['iterations']} iterations × {walkers}, each walk ≤ {c['steps']} steps of {c['timestep_fs']:g} fs; "
            f"{c['n_select']} labels per iteration")


def _error_keys(results) -> list:
    keys = [("energy_rmse_meV_atom", "energy RMSE (meV/atom)"), ("force_rmse_meV_A", "force-component RMSE (meV/Å)")]
    if "stress_rmse_meV_A3" in results["initial"]:
        keys.append(("stress_rmse_meV_A3", "stress RMSE (meV/Å³)"))
    return keys


def rmse_figure(path, results) -> None:
    """Test-set RMSE of each sampler's models after every iteration (0 = the surrogate they all start from)."""
    plt = pyplot()
    keys = _error_keys(results)
    fig, axes = plt.subplots(1, len(keys), figsize=(4.6 * len(keys), 4.4), layout="constrained")
    for ax, (key, label) in zip(axes, keys):
        for name, r in results["samplers"].items():
            values = [results["initial"][key]] + [h[key] for h in r["iterations"]]
            ax.plot(range(len(values)), values, "o-", label=_sampler_title(name, results))
        ax.set(xlabel="active-learning iteration (0 = surrogate)", ylabel=f"test-set {label}")
        integer_axis(ax.xaxis)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{_run_title(results)}; test-set RMSE on {results['test_size']} frames after each iteration",
                 fontsize=10)
    save(fig, path)


def visited_figure(path, results) -> None:
    """What each sampler's walks visited: φ/ψ coloured by iteration (molecule), or the cell volume of every
    walk against time in the walk, coloured by pressure, one line style per iteration (periodic)."""
    plt = pyplot()
    samplers = results["samplers"]
    molecule = "phi_psi" in next(iter(samplers.values()))
    size = (4.4 * len(samplers) + 1.2, 5.6) if molecule else (4.6 * len(samplers) + 1.2, 4.6)
    fig, axes = plt.subplots(1, len(samplers), figsize=size, squeeze=False, sharey=True, layout="constrained")
    last = results["config"]["iterations"]
    for ax, (name, r) in zip(axes[0], samplers.items()):
        if "phi_psi" in r:
            image = _ramachandran_panel(ax, r, last)
        else:
            _volume_panel(ax, r, last)
        ax.set_title(_sampler_title(name, results), fontsize=9)
        if ax is not axes[0][0]:
            ax.set_ylabel("")
    if molecule:
        cmap_ticks = iteration_scale(last, first=1)[2]
        fig.colorbar(image, ax=axes[0].tolist(), ticks=cmap_ticks, shrink=0.85, pad=0.01,
                     label="iteration of the walk")
    fig.suptitle(f"{_run_title(results)}\nwhat the walks visited (each walk starts from a frame of the initial data)",
                 fontsize=10)
    save(fig, path)


def _ramachandran_panel(ax, r, last):
    angles = np.reshape(r["phi_psi"], (-1, 2))
    iteration = np.asarray(r.get("phi_psi_iteration", np.ones(len(angles))))
    cmap, norm, _ = iteration_scale(last, first=1)
    image = ax.scatter(angles[:, 0], angles[:, 1], c=iteration, cmap=cmap, norm=norm, s=6)
    ax.set(xlim=(-180, 180), ylim=(-180, 180), xlabel="φ (deg)", ylabel="ψ (deg)",
           xticks=[-180, -90, 0, 90, 180], yticks=[-180, -90, 0, 90, 180], aspect="equal")
    ax.text(0.02, 0.02, f"coverage of 10° cells: {100 * r['ramachandran_coverage']:.1f} %", transform=ax.transAxes,
            fontsize=8, bbox=dict(fc="white", ec="none", alpha=0.8))
    return image


def _volume_panel(ax, r, last):
    from matplotlib.lines import Line2D  # noqa: PLC0415
    pressures = sorted({w["pressure_GPa"] for w in r["walks"]})
    colours = dict(zip(pressures, ["tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange"] * 4))
    styles = ["-", "--", ":", "-."]
    for w in r["walks"]:
        time_fs = r["trace_every_fs"] * np.arange(1, len(w["volumes_A3"]) + 1)
        ax.plot(time_fs, w["volumes_A3"], styles[(w["iteration"] - 1) % len(styles)], marker=".", ms=4, lw=1,
                color=colours[w["pressure_GPa"]])
    ax.set(xlabel="time in the walk (fs)", ylabel="cell volume (Å³)")
    ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=colours[p], label=f"{p:g} GPa") for p in pressures]
    drawn = {w["iteration"] for w in r["walks"]}
    handles += [Line2D([], [], color="0.3", ls=styles[(k - 1) % len(styles)], label=f"iteration {k}")
                for k in range(1, last + 1) if k in drawn]
    ax.legend(handles=handles, fontsize=7)
    missing = [str(k) for k in range(1, last + 1) if k not in drawn]
    if missing:   # every walk of these iterations stopped (or was dropped) before its first recorded frame
        ax.text(0.98, 0.02, f"iteration {', '.join(missing)}: no frame recorded\n(every walk ended before "
                f"{r['trace_every_fs']:g} fs)", transform=ax.transAxes, ha="right", va="bottom",
                fontsize=7, bbox=dict(fc="white", ec="0.8"))


def results_summary(study, results) -> None:
    """Write the figures of ``results`` into the run directory."""
    system = study.config.system
    rmse_figure(study.out / f"ubmd_{system}_rmse.png", results)
    visited_figure(study.out / f"ubmd_{system}_visited.png", results)

"""Figures of the Müller–Brown studies (PNG): ``skmd mb-al`` writes the files of ``AL_FIGURES``,
``skmd mb-w2`` writes ``W2_FIGURE``. Energies are in the surface's own unit, x and y are dimensionless
(see :mod:`skmd.studies.figure_tools`)."""
from __future__ import annotations


from pathlib import Path

import numpy as np

from ..backends import NUMPY
from ..md.udd import udd_bias
from ..modules.potentials import MuellerBrown
from .figure_tools import MB_COORDINATE, MB_ENERGY, MB_FORCE, integer_axis, iteration_scale, note, pyplot, save
from .mb_report import regime_line
from .mb_rmse_figure import COLORS, NAMES, al_settings, rmse_figure, test_set_note  # noqa: F401  the study's figure API
from .mueller_brown import BOX_HIGH, BOX_LOW, MINIMUM_NAMES

AL_FIGURES = {"rmse": "mb_al_rmse.png", "landscape": "mb_al_landscape.png", "acquisition": "mb_al_acquisition.png"}
W2_FIGURE = "mb_w2.png"
ENERGY_RANGE = (-150.0, 100.0)   # the landscape's colour scale; V is clipped to it


def _grid(n=160):
    xs = np.linspace(BOX_LOW[0], BOX_HIGH[0], n)
    ys = np.linspace(BOX_LOW[1], BOX_HIGH[1], n)
    gx, gy = np.meshgrid(xs, ys)
    return gx, gy, np.stack([gx.ravel(), gy.ravel()], axis=1)


def plot_landscape(ax, levels=np.linspace(*ENERGY_RANGE, 26), filled=False, labels=True):
    """Contours of the Müller–Brown surface (every 10 energy units by default) on ``ax`` over the study box,
    its minima A, B, C named; ``filled`` also shades V (light = low). Returns the filled contour set (for a
    colour bar) or None."""
    gx, gy, points = _grid()
    energy = np.clip(MuellerBrown().energy(points).reshape(gx.shape), *ENERGY_RANGE)
    shaded = ax.contourf(gx, gy, energy, levels=levels, cmap="Greys", alpha=0.45) if filled else None
    ax.contour(gx, gy, energy, levels=levels, colors="0.55", linewidths=0.4, linestyles="solid")
    for name, (x, y) in zip(MINIMUM_NAMES, MuellerBrown.minima):
        ax.annotate(name, (x, y), xytext=(-16, 8), textcoords="offset points", fontsize=9, weight="bold",
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
    ax.set_xlim(BOX_LOW[0], BOX_HIGH[0])
    ax.set_ylim(BOX_LOW[1], BOX_HIGH[1])
    ax.set_aspect("equal")
    if labels:
        ax.set(xlabel=f"x {MB_COORDINATE}", ylabel=f"y {MB_COORDINATE}")
    return shaded


def landscape_figure(path, out_dir, results, trial=0):
    """One trial's acquired points coloured by the iteration that acquired them, per sampler (paper Fig. 1)."""
    config = results["config"]
    samplers = list(results["samplers"])
    plt = pyplot()
    fig, axes = plt.subplots(1, len(samplers), figsize=(3.5 * len(samplers) + 1.5, 5.8), squeeze=False,
                             sharey=True, layout="constrained")
    cmap, norm, ticks = iteration_scale(config["iterations"])
    for ax, name in zip(axes[0], samplers):
        data = np.load(Path(out_dir) / "points" / name / f"trial_{trial:03d}.npz")
        shaded = plot_landscape(ax, filled=True)
        held = data["validation"] if "validation" in data else np.zeros(len(data["points"]), dtype=bool)
        order = np.argsort(data["iteration"], kind="stable")   # later iterations on top
        order = order[~held[order]]
        points = data["points"][order]
        dots = ax.scatter(points[:, 0], points[:, 1], c=data["iteration"][order], cmap=cmap, norm=norm, s=9,
                          edgecolors="k", linewidths=0.15)
        ax.scatter(*data["points"][held].T, marker="s", s=16, facecolors="none", edgecolors="crimson",
                   linewidths=0.8, label="held out (validation)")
        ax.set_title(f"{NAMES.get(name, name)}: {len(data['points'])} points\n({config['n_initial']} initial, "
                     f"{int(held.sum())} held out)", fontsize=10)
        if ax is not axes[0][0]:
            ax.set_ylabel("")
    axes[0][0].legend(fontsize=7, loc="upper right")
    bar = fig.colorbar(dots, ax=axes[0].tolist(), location="right", ticks=ticks, shrink=0.8, pad=0.01)
    bar.set_label("iteration that acquired the point (0 = initial data)")
    fig.colorbar(shaded, ax=axes[0].tolist(), location="bottom", shrink=0.35, aspect=35, pad=0.02,
                 label=f"Müller–Brown energy V(x, y) ({MB_ENERGY}; "
                       f"clipped to {ENERGY_RANGE[0]:g}…{ENERGY_RANGE[1]:g})")
    fig.suptitle(f"Müller–Brown active learning (skmd mb-al): the points of trial {trial} "
                 f"(of {config['trials']}), every sampler from the same start in basin B\n{al_settings(config)}",
                 fontsize=11)
    fig.get_layout_engine().set(rect=(0, 0.11, 1, 0.89))
    note(fig, landscape_reading(config), width=230)
    save(fig, path)


def landscape_reading(config: dict) -> str:
    """How to read the landscape figure, with the regime SKMD ran in."""
    return ("How to read: each panel is one sampler's labelled points on the true surface (light = low energy; "
            "A is the deepest basin, B the start). Colour = the iteration that acquired a point; a sampler whose "
            "colours stay in B gave its model nothing new to learn about A and C, and the test set lies in A. "
            + regime_line(config))


def acquisition_maps(snapshots, config):
    """‖b(x)‖ of a-SKMD and ρ(x) of UDD on the plot grid, from the iteration-2 snapshots."""
    gx, gy, points = _grid(120)
    maps = {}
    if "a-skmd" in snapshots:
        s = snapshots["a-skmd"]
        ens = s["ensemble"]
        forces = s["model"].forces(ens)
        n = len(points)
        b = NUMPY.stein_force(points, np.broadcast_to(ens, (n,) + ens.shape), np.broadcast_to(forces, (n,) + ens.shape),
                              None, np.full(n, config.amplitude), np.full(n, s["bandwidth"]),
                              np.full(n, config.kT), np.full(n, float(len(ens))))
        maps["a-skmd"] = (np.linalg.norm(b, axis=1).reshape(gx.shape), ens, config.tau,
                          f"‖b(x)‖, the Stein force's norm ({MB_FORCE})",
                          "a-SKMD: ‖b(x)‖ against the ensemble (white);\n"
                          f"a move stops where ‖b‖ < τ = {config.tau:g}")
    if "udd" in snapshots:
        committee = snapshots["udd"]["committee"]
        energies, forces = committee.evaluate_batch(points)
        rho = udd_bias(energies[:, 0] if energies.ndim == 3 else energies, forces, config.udd_A, config.udd_B)["rho"]
        maps["udd"] = (rho.reshape(gx.shape), None, config.udd_threshold,
                       f"ρ(x), the committee's energy spread ({MB_ENERGY})",
                       f"UDD: ρ(x) = standard deviation of the {config.udd_members} committee\nmembers' energies; "
                       f"a point is recorded where ρ > {config.udd_threshold:g}")
    return gx, gy, maps


def acquisition_figure(path, snapshots, config):
    """Maps of the a-SKMD and UDD acquisition functions with their thresholds (cyan), trial 0 (paper Fig. 5)."""
    from matplotlib.colors import LogNorm  # noqa: PLC0415  lazy: matplotlib only when a figure is drawn
    gx, gy, maps = acquisition_maps(snapshots, config)
    if not maps:
        return
    plt = pyplot()
    fig, axes = plt.subplots(1, len(maps), figsize=(6.2 * len(maps), 5.6), squeeze=False, layout="constrained")
    for ax, (name, (values, ens, threshold, label, title)) in zip(axes[0], maps.items()):
        top = float(values.max())
        norm = LogNorm(vmin=max(float(values.min()), top * 1e-4, 1e-12), vmax=max(top, 1e-11))
        image = ax.pcolormesh(gx, gy, np.clip(values, norm.vmin, None), shading="auto", cmap="magma", norm=norm)
        ax.contour(gx, gy, values, levels=[threshold], colors="cyan", linewidths=1.2)
        plot_landscape(ax)
        if ens is not None:
            ax.scatter(ens[:, 0], ens[:, 1], s=10, c="white", edgecolors="k", linewidths=0.3)
        fig.colorbar(image, ax=ax, label=label, shrink=0.9)
        ax.set_title(title, fontsize=10)
    fig.suptitle(f"Müller–Brown active learning (skmd mb-al): acquisition functions in trial 0 at iteration 2 "
                 f"(models trained on the data after iteration 1)\nh = {config.amplitude:g}, kT = {config.kT:g}, "
                 f"seed {config.seed}; cyan: the threshold contour", fontsize=11)
    save(fig, path)


def al_figures(out_dir, results, snapshots, config):
    """Write the files of ``AL_FIGURES`` into ``out_dir``."""
    out = Path(out_dir)
    rmse_figure(out / AL_FIGURES["rmse"], results)
    landscape_figure(out / AL_FIGURES["landscape"], out, results)
    acquisition_figure(out / AL_FIGURES["acquisition"], snapshots, config)


def w2_figure(path, results):
    """Mean ± std over trials of W2 to exact Boltzmann samples against total steps, per method (paper Fig. 4)."""
    config = results["config"]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5.6), layout="constrained")
    for name, r in results["methods"].items():
        w2 = np.array(r["w2"])
        steps = np.array(r["steps"])
        mean, std = w2.mean(axis=0), w2.std(axis=0)
        T = name.removeprefix("skmd_T")
        label = (f"overdamped Langevin ({config['langevin_steps']} steps per walker move)" if name == "langevin"
                 else f"SKMD, stopping time T = {T} step{'s' * (T != '1')}")
        ax.plot(steps, mean, "o-", ms=3, label=label)
        ax.fill_between(steps, mean - std, mean + std, alpha=0.15)
    ax.set_xlabel(f"total simulation steps (all {config['n_particles']} particles together)")
    ax.set_ylabel(f"W2 distance to exact Boltzmann samples {MB_COORDINATE}")
    low, high = ax.get_ylim()
    if low > 0 and high / low > 3:   # a log scale only where W2 spans a range worth it
        ax.set_yscale("log")
    integer_axis(ax.xaxis)
    ax.grid(alpha=0.3)
    fig.legend(fontsize=8, loc="outside lower center", ncols=2)
    ax.set_title(f"Müller–Brown Boltzmann fidelity (skmd mb-w2): mean ± std over {w2.shape[0]} trials\n"
                 f"{config['n_particles']} particles from basin B, h = {config['amplitude']:g}, kT = {config['kT']:g}, "
                 f"Δt = {config['dt']:g}, seed {config['seed']}", fontsize=10)
    save(fig, path)

"""Figures of the Müller–Brown studies (PNG, matplotlib's Agg backend)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..backends import NUMPY
from ..modules.potentials import MuellerBrown
from .mueller_brown import BOX_HIGH, BOX_LOW

COLORS = {"langevin": "tab:blue", "skmd": "tab:orange", "a-skmd": "tab:green", "udd": "tab:red"}


def _pyplot():
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    return plt


def _grid(n=160):
    xs = np.linspace(BOX_LOW[0], BOX_HIGH[0], n)
    ys = np.linspace(BOX_LOW[1], BOX_HIGH[1], n)
    gx, gy = np.meshgrid(xs, ys)
    return gx, gy, np.stack([gx.ravel(), gy.ravel()], axis=1)


def plot_landscape(ax, levels=np.linspace(-150, 100, 26)):
    """Contours of the Müller–Brown surface on ``ax`` over the study box."""
    gx, gy, points = _grid()
    energy = np.clip(MuellerBrown().energy(points).reshape(gx.shape), -150, 100)
    ax.contour(gx, gy, energy, levels=levels, colors="0.6", linewidths=0.5)
    ax.set_xlim(BOX_LOW[0], BOX_HIGH[0])
    ax.set_ylim(BOX_LOW[1], BOX_HIGH[1])
    ax.set_aspect("equal")


def rmse_figure(path, results, key_title=(("energy_rmse", "energy RMSE"), ("force_rmse", "force RMSE"))):
    """Median and interquartile band of the RMSE against iteration (paper Fig. 2)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (key, title) in zip(axes, key_title):
        for name, r in results["samplers"].items():
            values = np.array(r[key])
            its = np.arange(values.shape[1])
            q1, med, q3 = np.percentile(values, [25, 50, 75], axis=0)
            ax.plot(its, med, color=COLORS.get(name), label=name)
            ax.fill_between(its, q1, q3, color=COLORS.get(name), alpha=0.2)
        ax.set_yscale("log")
        ax.set_xlabel("active-learning iteration")
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"Müller–Brown NN active learning, {len(values)} trials (median, IQR)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def landscape_figure(path, out_dir, samplers, trial=0):
    """One trial's acquired points coloured by iteration, per sampler (paper Fig. 1)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(samplers), figsize=(4 * len(samplers), 4.2), squeeze=False)
    for ax, name in zip(axes[0], samplers):
        data = np.load(Path(out_dir) / "points" / name / f"trial_{trial:03d}.npz")
        plot_landscape(ax)
        sc = ax.scatter(data["points"][:, 0], data["points"][:, 1], c=data["iteration"], cmap="viridis", s=8)
        ax.set_title(name)
    fig.colorbar(sc, ax=axes[0].tolist(), label="iteration (0 = initial data)")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def acquisition_maps(snapshots, config):
    """‖b(x)‖ of a-SKMD and rho(x) of UDD on the plot grid, from the iteration-2 snapshots."""
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
        maps["a-skmd"] = (np.linalg.norm(b, axis=1).reshape(gx.shape), ens, config.tau, "‖b(x)‖")
    if "udd" in snapshots:
        from ..md.udd import udd_bias  # noqa: PLC0415
        committee = snapshots["udd"]["committee"]
        energies, forces = committee.evaluate_batch(points)
        rho = udd_bias(energies[:, 0] if energies.ndim == 3 else energies, forces, config.udd_A, config.udd_B)["rho"]
        maps["udd"] = (rho.reshape(gx.shape), None, config.udd_threshold, "rho(x)")
    return gx, gy, maps


def acquisition_figure(path, snapshots, config):
    """Maps of the a-SKMD and UDD acquisition functions (paper Fig. 5)."""
    gx, gy, maps = acquisition_maps(snapshots, config)
    if not maps:
        return
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(maps), figsize=(5.5 * len(maps), 4.5), squeeze=False)
    for ax, (name, (values, ens, threshold, label)) in zip(axes[0], maps.items()):
        im = ax.pcolormesh(gx, gy, np.log10(np.maximum(values, 1e-12)), shading="auto", cmap="magma")
        ax.contour(gx, gy, values, levels=[threshold], colors="cyan", linewidths=1.0)
        plot_landscape(ax)
        if ens is not None:
            ax.scatter(ens[:, 0], ens[:, 1], s=8, c="white", edgecolors="k", linewidths=0.3)
        fig.colorbar(im, ax=ax, label=f"log10 {label}")
        ax.set_title(f"{name}: {label}, threshold contour (cyan)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def al_figures(out_dir, results, snapshots, config):
    out = Path(out_dir)
    rmse_figure(out / "fig2_rmse.png", results)
    landscape_figure(out / "fig1_landscape.png", out, list(results["samplers"]))
    acquisition_figure(out / "fig5_acquisition.png", snapshots, config)


def w2_figure(path, results):
    """Mean ± std of W2 against steps per method (paper Fig. 4)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, r in results["methods"].items():
        w2 = np.array(r["w2"])
        steps = np.array(r["steps"])
        mean, std = w2.mean(axis=0), w2.std(axis=0)
        ax.plot(steps, mean, label=name)
        ax.fill_between(steps, mean - std, mean + std, alpha=0.15)
    ax.set_xlabel("total simulation steps")
    ax.set_ylabel("W2 to the Boltzmann distribution")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"Müller–Brown, {w2.shape[0]} trials (mean ± std)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


ALA2_COLORS = {"skmd": "tab:orange", "md300": "tab:blue", "md700": "tab:purple", "ubmd": "tab:green",
               "udd": "tab:red"}
ALA2_TITLES = {"skmd": "SKMD", "md300": "Langevin MD 300 K", "md700": "Langevin MD 700 K",
               "ubmd": "UB-MD 300 K", "udd": "UDD committee 300 K"}


def ramachandran_figure(path, results):
    """Paper Fig. 3c–e: (φ, ψ) of every labelled sample of each sampler, with the test set."""
    from ..atoms.alanine import MINIMA  # noqa: PLC0415
    plt = _pyplot()
    names = list(results["samplers"])
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(3.6 * (len(names) + 1), 3.6), sharey=True)
    panels = [("test set", np.array(results["test_phi_psi"]), "0.3")]
    panels += [(ALA2_TITLES.get(n, n), np.array(results["samplers"][n]["phi_psi"]), ALA2_COLORS.get(n, "k"))
               for n in names]
    for ax, (title, angles, color) in zip(np.atleast_1d(axes), panels):
        if len(angles):
            ax.scatter(angles[:, 0], angles[:, 1], s=8, color=color, alpha=0.7)
        for label, (phi, psi) in MINIMA.items():
            ax.plot(phi, psi, "k+", ms=8)
            ax.annotate(label, (phi, psi), textcoords="offset points", xytext=(3, 3), fontsize=7)
        ax.set(xlim=(-180, 180), ylim=(-180, 180), xlabel="φ (deg)", title=f"{title} ({len(angles)})")
        ax.set_xticks([-180, -90, 0, 90, 180])
        ax.set_yticks([-180, -90, 0, 90, 180])
    np.atleast_1d(axes)[0].set_ylabel("ψ (deg)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def ala2_rmse_figure(path, results):
    """Paper Fig. 3f–g: test-set energy and force RMSE after each iteration (0 = surrogate)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for key, ax, label in (("energy_rmse", axes[0], "total-energy RMSE (eV)"),
                           ("force_rmse", axes[1], "force-component RMSE (eV/Å)")):
        for name, r in results["samplers"].items():
            ax.plot(range(len(r[key])), r[key], "o-", color=ALA2_COLORS.get(name), label=ALA2_TITLES.get(name, name))
        ax.set(xlabel="active-learning iteration", ylabel=label, yscale="log")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def ala2_coverage_figure(path, results):
    """Ramachandran coverage (10° cells) of what each sampler's walks visited, accumulated per iteration."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    for name, r in results["samplers"].items():
        values = 100.0 * np.array(r["coverage_cumulative"])
        ax.plot(range(1, len(values) + 1), values, "o-", color=ALA2_COLORS.get(name), label=ALA2_TITLES.get(name, name))
    ax.set(xlabel="active-learning iteration", ylabel="φ/ψ cells visited so far (%)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def ala2_figures(out_dir, results):
    out_dir = Path(out_dir)
    ramachandran_figure(out_dir / "ramachandran.png", results)
    ala2_rmse_figure(out_dir / "rmse.png", results)
    if all("coverage_cumulative" in r for r in results["samplers"].values()):
        ala2_coverage_figure(out_dir / "coverage.png", results)

"""Figures of ``skmd ala2`` (PNG): ramachandran.png, rmse.png and coverage.png in the run directory."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..figure_tools import integer_axis, pyplot, save

ALA2_COLORS = {"skmd": "tab:orange", "md300": "tab:blue", "md700": "tab:purple", "ubmd": "tab:green",
               "udd": "tab:red"}
ALA2_TITLES = {"skmd": "SKMD", "md300": "Langevin MD 300 K", "md700": "Langevin MD 700 K",
               "ubmd": "UB-MD 300 K", "udd": "UDD committee 300 K"}


def ramachandran_figure(path, results):
    """Paper Fig. 3c–e: (φ, ψ) of every labelled sample of each sampler, with the test set."""
    from ...atoms.alanine import MINIMA  # noqa: PLC0415
    plt = pyplot()
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
    save(fig, path)


def ala2_rmse_figure(path, results):
    """Paper Fig. 3f–g: test-set energy and force RMSE after each iteration (0 = surrogate)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for key, ax, label in (("energy_rmse", axes[0], "total-energy RMSE (eV)"),
                           ("force_rmse", axes[1], "force-component RMSE (eV/Å)")):
        for name, r in results["samplers"].items():
            ax.plot(range(len(r[key])), r[key], "o-", color=ALA2_COLORS.get(name), label=ALA2_TITLES.get(name, name))
        ax.set(xlabel="active-learning iteration (0 = surrogate)", ylabel=label, yscale="log")
        integer_axis(ax.xaxis)
    axes[0].legend()
    fig.tight_layout()
    save(fig, path)


def ala2_coverage_figure(path, results):
    """Ramachandran coverage (10° cells) of what each sampler's walks visited, accumulated per iteration."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    for name, r in results["samplers"].items():
        values = 100.0 * np.array(r["coverage_cumulative"])
        ax.plot(range(1, len(values) + 1), values, "o-", color=ALA2_COLORS.get(name), label=ALA2_TITLES.get(name, name))
    ax.set(xlabel="active-learning iteration", ylabel="φ/ψ cells visited so far (%)")
    integer_axis(ax.xaxis)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, path)


def ala2_figures(out_dir, results):
    out_dir = Path(out_dir)
    ramachandran_figure(out_dir / "ramachandran.png", results)
    ala2_rmse_figure(out_dir / "rmse.png", results)
    if all("coverage_cumulative" in r for r in results["samplers"].values()):
        ala2_coverage_figure(out_dir / "coverage.png", results)

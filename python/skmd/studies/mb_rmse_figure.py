"""``mb_al_rmse.png`` of ``skmd mb-al``: the models' errors against iteration, where each sampler's points
went (its held-out labels) and on the test set (paper Fig. 2), with a note that says how to read them.
Energies in the surface's unit, forces in that unit per unit length (:mod:`skmd.studies.figure_tools`)."""
from __future__ import annotations

import textwrap

import numpy as np

from ..modules.nn import TrainingConfig
from .figure_tools import MB_ENERGY, MB_FORCE, integer_axis, note, pyplot, save
from .mueller_brown import MINIMUM_NAMES, rmse_thresholds

COLORS = {"langevin": "tab:blue", "skmd": "tab:orange", "a-skmd": "tab:green", "udd": "tab:red"}
NAMES = {"langevin": "Langevin", "skmd": "SKMD (fixed T)", "a-skmd": "a-SKMD (adaptive stop)", "udd": "UDD"}
#: the figure's rows: (results key prefix, what the row scores)
ROWS = (("held_out_", "where each sampler went: its held-out labels"), ("", "test set"))


def al_settings(config: dict, runs: str = "") -> str:
    """One line of the mb-al settings that matter for its figures, from ``results["config"]``; ``runs`` says
    which trials and seeds (default: the config's own)."""
    its = config["iterations"]
    runs = runs or f"{config['trials']} trials, seed {config['seed']}"
    return (f"h = {config['amplitude']:g}, a-SKMD τ = {config['tau']:g}, kT = {config['kT']:g}; "
            f"{its} iteration{'s' * (its != 1)} × {config['per_iteration']} points; {runs}")


def rmse_figure(path, results):
    """Median and interquartile band over trials of the RMSE against iteration: top row on each sampler's own
    held-out labels (results without them: that row is left out), bottom row on the test set."""
    config = results["config"]
    rows = [row for row in ROWS if all(f"{row[0]}force_rmse" in r for r in results["samplers"].values())]
    plt = pyplot()
    fig, axes = plt.subplots(len(rows), 2, figsize=(11, 4.4 * len(rows)), layout="constrained", squeeze=False)
    thresholds = rmse_thresholds(config["kT"])
    for ax_row, (prefix, scored) in zip(axes, rows):
        for ax, key, unit, threshold_name in zip(ax_row, ("energy_rmse", "force_rmse"), (MB_ENERGY, MB_FORCE),
                                                 ("kT", "kT / 0.1")):
            for name, r in results["samplers"].items():
                values = np.array(r[prefix + key], dtype=float)           # None (no held-out points) → nan
                its = np.arange(values.shape[1])
                q1, med, q3 = np.nanpercentile(values, [25, 50, 75], axis=0)
                ax.plot(its, med, "o-", ms=3, color=COLORS.get(name), label=NAMES.get(name, name))
                ax.fill_between(its, q1, q3, color=COLORS.get(name), alpha=0.2)
            ax.axhline(thresholds[key], color="0.4", ls=":", lw=1)
            ax.annotate(f"threshold {threshold_name} = {thresholds[key]:g}", (0, thresholds[key]), xytext=(2, 3),
                        textcoords="offset points", fontsize=8, color="0.3")
            quantity = "energy" if key == "energy_rmse" else "force-component"
            ax.set(yscale="log", title=scored, ylabel=f"{quantity} RMSE\n({unit})",
                   xlabel=f"active-learning iteration (0 = the {config['n_initial']} initial points)")
            integer_axis(ax.xaxis)
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"Müller–Brown active learning (skmd mb-al): RMSE, median and interquartile range over "
                 f"trials\n{al_settings(config)}", fontsize=11)
    text = "How to read: lower is better; a line that falls means that iteration's labels improved the model. "
    if len(rows) == 2:
        text += ("Top: every iteration's models on the labels each sampler held out (never trained on), so "
                 "the models learn where their sampler went if these lines fall; each sampler has its own points, "
                 "so compare a line with its own start, not with the others. Bottom: the test set. ")
    text += test_set_note(results)
    bottom = 0.02 + 0.1 * len(textwrap.wrap(text, 175)) / (2.2 * len(rows))     # room for the note's lines
    fig.get_layout_engine().set(rect=(0, bottom, 1, 1 - bottom))
    note(fig, text, width=175)
    save(fig, path)


def test_set_note(results) -> str:
    """What the test set holds against where each sampler's points went (nearest minimum), and, where the
    two do not overlap, what the test RMSE then measures. Empty for results without these records."""
    test = results.get("test_set", {}).get("nearest_minimum")
    if not test:
        return ""
    config = results["config"]
    where = "/".join(MINIMUM_NAMES)
    shares = "/".join(f"{100 * test[m]:.0f}" for m in MINIMUM_NAMES)
    reached = {name: r["acquired_nearest_minimum"]["A"] for name, r in results["samplers"].items()
               if "acquired_nearest_minimum" in r}
    text = (f"Test set: {config['test_size']} exact Boltzmann samples at kT = {config['kT']:g}, nearest minimum "
            f"{where}: {shares} %. Acquired points nearest A: "
            + ", ".join(f"{name} {100 * a:.0f} %" for name, a in reached.items()) + ".")
    if test["A"] >= 0.5 and any(a < 0.05 for a in reached.values()):
        text += (" A sampler whose points do not reach A is scored on the model's extrapolation into A (mostly a "
                 "constant energy offset), which can grow while its error near its own data falls.")
    epochs, full = config["training"]["epochs"], TrainingConfig().epochs
    if config["training"].get("schedule", "cosine") == "cosine" and epochs < full:
        text += (f" This run retrains {epochs} epochs per iteration (the full study {full}), too few to fit points "
                 "in a new basin; trained to convergence (benchmarks/mb_quick_learning.py, seed 0), a sampler "
                 "whose points reach A ends below its start, and those that miss A still do not.")
    return text

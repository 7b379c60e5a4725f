"""The figure of a campaign's report: test errors against iteration, one panel per quantity."""
from __future__ import annotations

from pathlib import Path

from ..tools.error_units import QUANTITY, UNITS



def learning_curves(path, results) -> None:
    """PNG at ``path``: per quantity, the test RMSE after each iteration (0 = the starting model) per sampler."""
    import matplotlib  # noqa: PLC0415  lazy: the Agg backend is chosen only when a figure is drawn
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415  lazy: after the backend is chosen
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415  lazy: after the backend is chosen
    keys = [key for key in UNITS if key in results["initial"]]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for index, (name, r) in enumerate(results["samplers"].items()):
            values = [results["initial"][key]] + [m[key] for m in r["iterations"]]   # equal curves stay visible:
            ax.plot(range(len(values)), values, marker="os^D"[index % 4], linestyle=("-", "--", ":", "-.")[index % 4],
                    markersize=7 - index, label=name)
        ax.set_xlabel("active-learning iteration")
        ax.set_ylabel(f"test RMSE, {QUANTITY[key]} ({UNITS[key]})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0][0].legend(title="sampler")
    config = results["config"]
    fig.suptitle(f"skmd al on {Path(config['structures']).name}: {results['test_frames']} test frames, "
                 f"{config['select']} labels per iteration and sampler", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

"""Shared pieces of every study figure: matplotlib's Agg backend, integer iteration axes, a discrete
colour scale for integer iterations, and a wrapped note under the panels.

Units written on the Müller–Brown figures (one source of truth for their labels): the surface's energy
is in its own unit (``MB_ENERGY``), its coordinates x, y are dimensionless, so forces carry the energy unit.
"""
from __future__ import annotations

import textwrap

import numpy as np

MB_ENERGY = "MB energy units"
MB_FORCE = "MB energy units per unit x"
MB_COORDINATE = "(dimensionless)"


def pyplot():
    """matplotlib.pyplot on the Agg backend (imported only when a figure is drawn)."""
    import matplotlib  # noqa: PLC0415  lazy: matplotlib only when a figure is drawn
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415  lazy: matplotlib only when a figure is drawn (after use('Agg'))
    return plt


def integer_axis(axis) -> None:
    """Ticks at whole numbers only on ``axis`` (``ax.xaxis``, ``ax.yaxis`` or a colour bar's axis)."""
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415  lazy: matplotlib only when a figure is drawn
    axis.set_major_locator(MaxNLocator(integer=True))


def iteration_scale(last: int, first: int = 0, cmap: str = "viridis"):
    """A discrete colour scale for the integers ``first``..``last``: (colormap with one colour per integer,
    BoundaryNorm, tick positions for the colour bar, at most about 9 of them)."""
    import matplotlib  # noqa: PLC0415  lazy: matplotlib only when a figure is drawn
    from matplotlib.colors import BoundaryNorm  # noqa: PLC0415  lazy: matplotlib only when a figure is drawn
    n = int(last) - int(first) + 1
    colours = matplotlib.colormaps[cmap].resampled(n)
    norm = BoundaryNorm(np.arange(first - 0.5, last + 1), n)
    ticks = list(range(first, last + 1, max(1, int(np.ceil(n / 9)))))
    return colours, norm, ticks


def note(fig, text: str, width: int = 150, fontsize: float = 8.0) -> None:
    """``text`` wrapped to ``width`` characters at the bottom left of ``fig`` (leave room with
    ``fig.subplots_adjust(bottom=...)`` or a layout engine's rect)."""
    fig.text(0.01, 0.01, textwrap.fill(text, width), ha="left", va="bottom", fontsize=fontsize, color="0.25")


def save(fig, path, dpi: int = 120) -> None:
    """Write ``fig`` to ``path`` and free it."""
    plt = pyplot()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)

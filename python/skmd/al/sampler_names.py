"""The names of a campaign's built-in samplers (numpy-free, for the command line)."""
from __future__ import annotations

#: the samplers a campaign can run side by side (each has its own model chain and labels)
SAMPLERS = ("md", "skmd", "skmd-ud", "ubmd", "udd")


def sampler_kind(name: str) -> str | None:
    """The built-in sampler a name means: one of :data:`SAMPLERS`, or "md" for ``md<T>`` (plain MD at T K,
    e.g. ``md700``); None for any other name."""
    if name in SAMPLERS:
        return name
    if name.startswith("md"):
        try:
            return "md" if float(name[2:]) > 0 else None
        except ValueError:
            return None
    return None


def md_temperature(name: str, default_K: float) -> float:
    """The temperature (K) of the plain-MD sampler ``name``: T of ``md<T>``, else ``default_K``."""
    return float(name[2:]) if name != "md" else float(default_K)


def _sampler_order(name: str) -> tuple:
    kind = sampler_kind(name)
    return (SAMPLERS.index(kind), 0.0 if name == kind else float(name[2:]))

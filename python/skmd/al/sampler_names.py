"""The names of a campaign's built-in samplers (numpy-free, for the command line)."""
from __future__ import annotations

#: the samplers a campaign can run side by side (each has its own model chain and labels)
SAMPLERS = ("md", "skmd", "skmd-ud", "ubmd", "udd")
#: the samplers a name may carry a number after: ``md<T>`` (plain MD at T K), ``skmd<h>`` (SKMD at amplitude h)
NUMBERED = ("md", "skmd")


def _numbered(name: str) -> tuple[str, float] | None:
    """(kind, number) for ``md<T>`` or ``skmd<h>`` with a positive number; None for any other name."""
    for kind in sorted(NUMBERED, key=len, reverse=True):
        if name.startswith(kind) and name != kind:
            try:
                value = float(name[len(kind):])
            except ValueError:
                return None
            return (kind, value) if value > 0 else None
    return None


def sampler_kind(name: str) -> str | None:
    """The built-in sampler a name means: one of :data:`SAMPLERS`, "md" for ``md<T>`` (plain MD at T K, e.g.
    ``md700``), "skmd" for ``skmd<h>`` (SKMD at kernel amplitude h, e.g. ``skmd1.5``); None for any other name."""
    if name in SAMPLERS:
        return name
    numbered = _numbered(name)
    return None if numbered is None else numbered[0]


def md_temperature(name: str, default_K: float) -> float:
    """The temperature (K) of the plain-MD sampler ``name``: T of ``md<T>``, else ``default_K``."""
    numbered = _numbered(name)
    return numbered[1] if numbered and numbered[0] == "md" else float(default_K)


def skmd_amplitude(name: str, default: float) -> float:
    """The kernel amplitude h of the SKMD sampler ``name``: h of ``skmd<h>``, else ``default``."""
    numbered = _numbered(name)
    return numbered[1] if numbered and numbered[0] == "skmd" else float(default)


def _sampler_order(name: str) -> tuple:
    numbered = _numbered(name)
    kind = sampler_kind(name)
    return (SAMPLERS.index(kind), 0.0 if numbered is None else numbered[1])

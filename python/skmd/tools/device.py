"""Where the models run: ``auto``, ``cpu`` or ``cuda`` (``skmd al --device``, ``CampaignConfig.device``).

``auto`` is "cuda" where torch sees a CUDA device, else "cpu". Sampling, scoring and training then
run there; UB-MD's uncertainty is computed on the CPU whatever the device (see
:class:`~skmd.uncertainty.factory.UBMDFactory`). Light on purpose: torch is imported only to resolve
``auto`` or to check ``cuda``, so that the command line's checks stay fast.
"""
from __future__ import annotations

#: the accepted device names
DEVICES = ("auto", "cpu", "cuda")


def _cuda_available() -> bool:
    try:
        import torch  # noqa: PLC0415  lazy: torch is the ml extra (and skmd --help checks --device)
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def check_device(name) -> str:
    """``name`` if it is one of :data:`DEVICES` (and, for "cuda", torch sees a CUDA device); else a
    one-line ValueError, before any expensive work."""
    if name not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "cuda" and not _cuda_available():
        raise ValueError("device cuda: torch sees no CUDA device here (torch.cuda.is_available() is False); "
                         "use --device cpu or auto")
    return name


def resolve_device(name) -> str:
    """"cpu" or "cuda" for a name of :data:`DEVICES` (``auto``: "cuda" where available, else "cpu")."""
    check_device(name)
    if name == "auto":
        return "cuda" if _cuda_available() else "cpu"
    return name

"""Which parameters the gradient features cover (no imports: configuration checks read it without torch).

- ``"readout"``: the weights of every MACE readout (a last-layer uncertainty).
- ``"readout+interactions"`` (the default): those, plus the scalar (0e → 0e) weights of the last interaction block's
  ``linear`` and of the last product block's ``linear``, the only other weights whose per-atom
  gradient is closed form (see :mod:`skmd.uncertainty.features`).

The default was chosen by ``benchmarks/ubmd_features_pilot.py`` (docs/ubmd.md, "Which parameters the
features cover").
"""

FEATURE_LAYERS = ("readout", "readout+interactions")
DEFAULT_FEATURE_LAYERS = "readout+interactions"


def check_feature_layers(value, name: str = "layers") -> str:
    """``value`` if it is one of :data:`FEATURE_LAYERS`; ``ValueError`` with one line otherwise."""
    if value not in FEATURE_LAYERS:
        raise ValueError(f"{name} must be one of {', '.join(FEATURE_LAYERS)}, got {value!r}")
    return value

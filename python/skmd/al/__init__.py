"""Active learning on your own structures, model and oracle: ``skmd al`` and :class:`Campaign`.

    from skmd.al import Campaign, make_config
    config = make_config({"structures": "start.extxyz", "oracle": "ase.calculators.emt:EMT",
                          "samplers": "md,ubmd", "pressure_GPa": 0.0, "out": "runs/my-al"})
    results = Campaign(config).run()

Every part plugs in without edits to skmd: ``Campaign(config, oracle=..., samplers=[...],
selector=..., trainer=..., executor=...)`` (see :mod:`.samplers`, :mod:`.selection`, :mod:`.training`).
Members are imported on first use (:mod:`skmd.tools.lazy`).
"""
from ..tools.lazy import lazy_exports

_WHERE = {"Campaign": ".campaign", "CampaignConfig": ".config", "make_config": ".config", "read_yaml": ".config",
          "MD": ".samplers", "SKMD": ".samplers", "UBMD": ".samplers", "UDD": ".samplers", "Context": ".samplers",
          "SelectionContext": ".selection", "fps": ".selection", "MACETrainer": ".training"}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
__all__ = sorted(_WHERE)

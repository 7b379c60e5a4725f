"""``skmd ubmd``: active learning with uncertainty-biased MD (docs/method.md §9) on alanine dipeptide
(NVT) or a periodic cell (8-atom diamond Si or the 12-atom CO2 crystal; NPT with a fully flexible
cell, at each of ± pressure).

Under ``--out``: ``init/`` (oracle labels of the starting data), ``test/`` (periodic test set),
``surrogate/`` (MACE trained from scratch with ``mace_run_train``), and per sampler and iteration
``samplers/<name>/iterKK/`` (candidates, selected batch, fine-tuned model, metrics). The samplers
are biased MD at ``temperature_K`` and plain MD at each of ``md_temperatures``, all with the same
threshold stop, selection and fine-tuning. Modules: :mod:`.config`, :mod:`.stages`, :mod:`.loop`,
:mod:`.records`; the command line is :mod:`skmd.cli.ubmd`. Every stage is checkpointed and labels
go through a :class:`~skmd.atoms.store.LabelStore`, so a killed run resumes without a duplicate
oracle call. Members are imported on first use (:mod:`skmd.tools.lazy`): the settings alone need no torch.
"""
from ...tools.lazy import lazy_exports

_WHERE = {name: ".config" for name in ("FULL", "QUICK", "Sampler", "UBMDConfig", "co2_cell", "gfn1_xtb",
                                       "silicon_cell")}
_WHERE.update(Study=".loop", run_study=".loop")
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
__all__ = sorted(_WHERE)

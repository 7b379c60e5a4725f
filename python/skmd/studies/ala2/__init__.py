"""``skmd ala2``: active learning and MACE fine-tuning on alanine dipeptide (paper §5.2, E.2, Fig. 3).

The oracle is any ASE calculator (default GFN2-xTB through tblite). The workflow, all under
``--out``:

1. ``surrogate/``: relax C7eq with the oracle, run oracle Langevin MD at 300 K in that basin,
   label the snapshots, train a 32-channel MACE from scratch with ``mace_run_train``.
2. ``init/``: relax C7eq with the surrogate, burn in with Brownian dynamics, take N snapshots:
   the starting ensemble of every sampler.
3. ``test/``: SKMD driven by the oracle (descriptors from the surrogate), furthest-point
   selection of the held-out test set, oracle labels.
   With ``testset`` set (``--medium``: the shipped independent set), that file is the test set.
4. For every iteration and sampler (:class:`SKMDSampler`: round-robin SKMD; :class:`MDSampler`:
   Langevin MD at each of ``md_temperatures``; :class:`UBMDSampler`: uncertainty-biased MD;
   :class:`UDDSampler`: UDD on a MACE committee): sampling on the current model, furthest-point
   selection seeded with all earlier data, oracle labels, fine-tuning of the surrogate on all
   labels so far, RMSE on the test set (per basin on the independent set), Ramachandran coverage.

Modules: :mod:`.config` (settings), :mod:`.samplers` (samplers and their calculator factories),
:mod:`.stages` (steps 1–3), :mod:`.loop` (step 4),
:mod:`.scoring` (test errors, coverage). The command line is :mod:`skmd.cli.ala2`.

Every stage writes its outputs atomically and is skipped when rerun, and labels go through a
:class:`~skmd.atoms.store.LabelStore`; so killing the run and rerunning the same command resumes
without losing labels or sending a configuration to the oracle twice. Members are imported on first use (:mod:`skmd.tools.lazy`): the settings alone need no torch.
"""
from ...tools.lazy import lazy_exports

_WHERE = {"Ala2Config": ".config", "MEDIUM": ".config", "QUICK": ".config", "SAMPLERS": ".config",
          "Study": ".loop", "run_study": ".loop", "oracle_md_frames": ".stages"}
_WHERE.update({name: ".samplers" for name in ("SKMD", "UBMD", "UDD", "MDSampler", "SKMDSampler", "UBMDSampler",
                                              "UDDSampler", "md_name")})
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)

__all__ = sorted(_WHERE)

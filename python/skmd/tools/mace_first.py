"""Import mace (before e3nn) without the lines that are not the user's business.

Importing this module imports ``mace`` first, as mace-torch 0.3.16 with e3nn 0.4.4 and torch 2.13
needs (otherwise e3nn fails to load its constants under torch's ``weights_only`` default), and
then e3nn and mace's model modules, while hiding two messages every skmd command used to print:
e3nn's ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` UserWarning (mace sets that variable on import; skmd's
own model loading does not depend on it, see :mod:`skmd.atoms.mace_models`) and mace's
``cuequivariance ... not available`` line (an optional GPU acceleration). Every skmd module that
uses mace or e3nn imports this module first.
"""
from __future__ import annotations

import contextlib
import io
import sys
import warnings

_HIDDEN_LINE = "cuequivariance or cuequivariance_torch is not available"


def _import_quietly() -> None:
    printed = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(printed):
        warnings.filterwarnings("ignore", message=".*TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD.*")
        import mace  # noqa: F401, PLC0415  lazy: inside catch_warnings, to hide mace's start-up notices
        import e3nn.o3  # noqa: F401, PLC0415  lazy: inside catch_warnings, to hide mace's start-up notices
        import mace.modules  # noqa: F401, PLC0415  lazy: inside catch_warnings, to hide mace's start-up notices
        import mace.tools  # noqa: F401, PLC0415  lazy: inside catch_warnings, to hide mace's start-up notices
    kept = [line for line in printed.getvalue().splitlines() if _HIDDEN_LINE not in line]
    if kept:                                # anything else mace printed still reaches the user
        print("\n".join(kept), file=sys.stdout)


_import_quietly()

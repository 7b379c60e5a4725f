"""``skmd`` command-line entry point.

Building the parser imports no torch or mace (``skmd --help`` costs about as much as ``import ase``);
each command imports what it needs when it runs. Errors the user can act on end in one line
(``skmd <command>: error: ...``), as do a missing optional dependency and Ctrl-C.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import skmd                                        # the package namespace is lazy: nothing heavy loads
from skmd.tools.factories import EXTRA_OF_MODULE
from skmd.tools.pool import one_line_warning
from skmd.tools.threads import set_threads

from . import al, al_compare, export, studies      # each command's parser; they import no numpy

THREADS_HELP = ("torch/BLAS threads of this process and of each worker it starts (default: $SKMD_THREADS, "
                "else 1; more threads than free cores slow MACE down several-fold)")


def _info(args) -> int:
    from skmd.backends import get_backend, julia_available  # noqa: PLC0415  lazy: skmd --help start-up (backends import numpy)
    with warnings.catch_warnings():     # the fallback notice would repeat what the next line says, with why
        warnings.simplefilter("ignore", RuntimeWarning)
        backend = get_backend(args.backend)
    print(f"skmd {skmd.__version__}; backend: {backend.name}")
    if backend.name != "julia":
        print(f"Julia backend: not available here ({julia_available()[1]})")
    return 0


def _add_threads_flag(parser) -> None:
    if "--threads" not in parser._option_string_actions:   # a study may define it itself
        parser.add_argument("--threads", type=int, default=None, help=THREADS_HELP)


class OneLineParser(argparse.ArgumentParser):
    """argparse with its usage errors in one line (``skmd al: error: ...``) and where to read more."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="skmd", description="Stein kernelized molecular dynamics",
        epilog="Every command sets its thread count first (--threads, default 1): see 'skmd <command> --help'.")
    parser.add_argument("--version", action="version", version=f"skmd {skmd.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    info = sub.add_parser("info", help="print the version and the backend in use")
    info.add_argument("--backend", default=None, choices=["auto", "numpy", "julia"])
    info.set_defaults(func=_info)
    al.add_command(sub)                  # the general campaign commands, then the studies'
    al_compare.add_command(sub)
    export.add_command(sub)
    studies.add_commands(sub)
    for command in sub.choices.values():
        _add_threads_flag(command)
    return parser


def interrupted_line(args) -> str:
    """What a Ctrl-C leaves behind, and how to go on, in one line."""
    out = getattr(args, "out", None)
    if out is None:
        return f"skmd {args.command}: interrupted"
    if not Path(out).exists():
        return f"skmd {args.command}: interrupted before anything was written"
    if getattr(args, "resumable", False):
        return (f"skmd {args.command}: interrupted; finished stages and every label so far are saved in {out}; "
                f"run the same command again to resume (labels cut off by the interrupt are sent again by "
                f"themselves; labels the oracle failed on only with --retry-failed)")
    return f"skmd {args.command}: interrupted; {out} is incomplete (this study does not resume); run it again"


def missing_extra_line(command: str, error: ModuleNotFoundError) -> str | None:
    """One line naming the pip extra that brings the missing module, or None if it is not an optional one."""
    top = (error.name or "").split(".")[0]
    if top not in EXTRA_OF_MODULE:
        return None
    extra = EXTRA_OF_MODULE[top]
    return (f"skmd {command}: needs {top}, which comes with the '{extra}' extra: "
            f"pip install -e \".[{extra}]\" in a checkout (torch first: pip install torch==2.13.0)")


def main(argv=None) -> int:
    warnings.formatwarning = one_line_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.threads_flag = getattr(args, "threads", None)      # as given (None: not), for a config file to set
        args.threads = set_threads(args.threads_flag)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("\n" + interrupted_line(args), file=sys.stderr)
        return 130
    except ModuleNotFoundError as error:
        line = missing_extra_line(args.command, error)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return 2
    except (ValueError, RuntimeError, OSError) as error:
        print(f"skmd {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

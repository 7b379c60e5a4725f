"""``skmd`` command-line entry point."""
from __future__ import annotations

import argparse
import sys

THREADS_HELP = ("torch/BLAS threads of this process and of each worker it starts (default: $SKMD_THREADS, "
                "else 1; more threads than free cores slow MACE down several-fold)")


def _info(args) -> int:
    import skmd  # noqa: PLC0415
    from skmd.backends import get_backend  # noqa: PLC0415
    backend = get_backend(args.backend)
    print(f"skmd {skmd.__version__}; backend: {backend.name}")
    return 0


def _add_threads_flag(parser) -> None:
    if "--threads" not in parser._option_string_actions:   # a study may define it itself
        parser.add_argument("--threads", type=int, default=None, help=THREADS_HELP)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skmd", description="Stein kernelized molecular dynamics",
        epilog="Every command sets its thread count first (--threads, default 1): see 'skmd <command> --help'.")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="print the version and the backend in use")
    info.add_argument("--backend", default=None, choices=["auto", "numpy", "julia"])
    info.set_defaults(func=_info)
    from . import studies  # noqa: PLC0415
    studies.add_commands(sub)
    for command in sub.choices.values():
        _add_threads_flag(command)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from skmd.tools.threads import set_threads  # noqa: PLC0415
        args.threads = set_threads(getattr(args, "threads", None))
        return int(args.func(args) or 0)
    except (ValueError, RuntimeError, OSError) as error:
        print(f"skmd {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

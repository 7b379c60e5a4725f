"""``skmd`` command-line entry point."""
from __future__ import annotations

import argparse
import sys


def _info(args) -> int:
    import skmd  # noqa: PLC0415
    from skmd.backends import get_backend  # noqa: PLC0415
    backend = get_backend(args.backend)
    print(f"skmd {skmd.__version__}; backend: {backend.name}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skmd", description="Stein kernelized molecular dynamics")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="print the version and the backend in use")
    info.add_argument("--backend", default=None, choices=["auto", "numpy", "julia"])
    info.set_defaults(func=_info)
    from . import studies  # noqa: PLC0415
    studies.add_commands(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, RuntimeError) as error:
        print(f"skmd {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

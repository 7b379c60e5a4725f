"""Reproductions of the paper's studies, run from the ``skmd`` command line."""


def add_common_flags(parser, default_out: str, quick_help: str) -> None:
    """Flags every study command shares: --seed, --backend, --out, --quick, --no-progress."""
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="auto", choices=["auto", "numpy", "julia"])
    parser.add_argument("--out", default=default_out, help="output directory")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")

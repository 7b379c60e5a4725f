"""Names of the batch-selection methods of :mod:`skmd.uncertainty.selection` (no imports: the command line
lists them in its help without loading numpy)."""

METHODS = ("max_det", "lcmd", "max_dist", "random")

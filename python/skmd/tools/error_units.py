"""The names and units of test errors: the one place every score, report and figure reads them from.

Kept free of torch and mace so that reports and the Müller–Brown studies can name errors without the
atoms extra. :mod:`skmd.atoms.scoring` computes the numbers under these keys.
"""

#: summary key → unit, the one place the error names and units are defined
UNITS = {"energy_rmse_meV_atom": "meV/atom", "force_rmse_meV_A": "meV/Å", "stress_rmse_meV_A3": "meV/Å³"}
#: summary key → the per-frame quantity it pools (a key of ``score(...)["per_frame"]``, same unit)
QUANTITY = {"energy_rmse_meV_atom": "energy", "force_rmse_meV_A": "forces", "stress_rmse_meV_A3": "stress"}
#: the summary keys also given per basin, and the one whose largest basin is the worst basin
BASIN_KEYS, WORST_BASIN_KEY = ("energy_rmse_meV_atom", "force_rmse_meV_A"), "force_rmse_meV_A"
#: the ``info`` key that names a test frame's basin
BASIN_INFO = "basin"

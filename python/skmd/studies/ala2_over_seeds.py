"""What alanine dipeptide adds to a comparison over seeds (``skmd al-compare``,
:func:`skmd.al.over_seeds.compare_runs`): Ramachandran coverage as cumulative 10° × 10° φ/ψ cells visited
(campaigns traced with :class:`skmd.atoms.alanine.PhiPsi`), the basins those cells belong to, and the
verdicts on the papers' claims (:mod:`skmd.studies.ala2_claims`), gathered in :data:`ALA2`."""
from __future__ import annotations

import json

import numpy as np

from ..al.over_seeds import StudyOverSeeds
from ..al.run_dir import RunDir
from ..atoms.alanine import OTHER, PhiPsi, classify_basin, visited_cells
from .ala2_claims import claims

#: the trace whose φ/ψ gives coverage and basins reached
PHI_PSI_TRACE = "skmd.atoms.alanine:PhiPsi"


def phi_psi_maps(run: dict, name: str) -> list:
    """Per iteration k, the cumulative (36, 36) map of φ/ψ cells the sampler's walks visited in 1..k."""
    maps, cells = [], None
    for k in range(1, run["config"]["iterations"] + 1):
        path = RunDir(run["run_dir"]).sampling(name, k)
        rows = np.asarray(json.loads(path.read_text()).get("trace", []), float).reshape(-1, 3)
        now = visited_cells(rows[:, 1:], PhiPsi.cell_deg)
        cells = now if cells is None else cells | now
        maps.append(cells)
    return maps


def basins_of(cells) -> set:
    """The basins (:func:`skmd.atoms.alanine.classify_basin` of each cell's centre) of visited cells,
    ``other`` left out."""
    size = 360.0 / cells.shape[0]
    centres = -180.0 + size * (np.argwhere(cells) + 0.5)
    return set(classify_basin(centres)) - {OTHER} if len(centres) else set()


#: the alanine-dipeptide study's part of a comparison over seeds
ALA2 = StudyOverSeeds(trace=PHI_PSI_TRACE, visited=phi_psi_maps, regions=basins_of, cells="φ/ψ cells",
                      regions_name="basins", claims=claims, criteria="skmd.studies.ala2_claims")

"""The Müller–Brown active-learning study's sampler names, SKMD's two regimes and a-SKMD's thresholds, free
of imports, so that the command line can show them in its help without loading numpy (:mod:`skmd.studies.mb_al`
uses them).

SKMD's kernel amplitude h sets its regime (:func:`skmd.modules.kernels.kernel_regime`): the **Boltzmann
regime** h ≤ 0.1 N (3.2 for the study's 32 particles) samples the target within about 5 % and does not
leave basin B; the **exploration regime**, the study's default, takes the amplitude the coverage pilot
chose (benchmarks/mb_regime_pilot.py: the smallest h on its grid whose SKMD points reach all three basins
in at least 3 of 4 trials without diverging) and gives up Boltzmann fidelity for it.
"""

SAMPLERS = ("langevin", "skmd", "a-skmd", "udd")
#: the exploration regime's amplitude, picked by benchmarks/mb_regime_pilot.py (results/mb_regime_pilot.json)
EXPLORATION_AMPLITUDE = 100.0
#: a-SKMD's stop threshold per regime: the 10th percentile of ‖b‖ along SKMD moves on the initial models
#: (benchmarks/mb_al_pilot.py --amplitude H), to 2 significant digits, fixed before the study runs.
TAU_EXPLORATION = 14.0
TAU_AT_RULE = 6.4
REGIMES = ("exploration", "boltzmann")
#: one in this many acquired points per trial and iteration is held out as validation (never trained on)
VALIDATION_EVERY = 8

"""The Müller–Brown active-learning study's sampler names and its a-SKMD threshold, free of imports, so that
the command line can show them in its help without loading numpy (:mod:`skmd.studies.mb_al` uses them)."""

SAMPLERS = ("langevin", "skmd", "a-skmd", "udd")
#: a-SKMD's stop threshold at the default amplitude: the 10th percentile of ‖b‖ along SKMD moves on the
#: initial models (benchmarks/mb_al_pilot.py), to 2 significant digits. The exploration setting h = 300
#: used τ = 3.0 by the same pilot.
TAU_AT_RULE = 6.4

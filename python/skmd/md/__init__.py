"""Samplers with one interface (ASE ``Dynamics`` style: ``run()`` and ``attach()``)."""

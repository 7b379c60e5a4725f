"""Atomistic SKMD: MACE descriptors, oracles and labelling on ASE Atoms.

Import order matters with mace-torch 0.3.16 / e3nn 0.4.4 / torch 2.13: ``mace`` is imported
before ``e3nn`` (the modules below do it), otherwise e3nn fails to load its constants under
torch's ``weights_only`` default.
"""

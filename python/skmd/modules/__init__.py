"""Models: kernels, the Stein biasing force, potentials and descriptor maps."""

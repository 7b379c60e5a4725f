"""Utilities: input checks, noise streams, selection, Wasserstein distances."""

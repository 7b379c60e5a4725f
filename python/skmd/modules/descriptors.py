"""Descriptor maps d: R^D → R^M with Jacobians J = ∂d/∂x (M, D)."""
from __future__ import annotations

import numpy as np


class IdentityDescriptor:
    """d(x) = x, J = I. The 2D default (plain coordinates)."""

    is_identity = True

    def compute(self, x):
        """x (n, D) → (n, D)."""
        return np.asarray(x, float)

    def jacobian(self, x):
        """x (n, D) → (n, D, D) identity matrices."""
        x = np.asarray(x, float)
        return np.broadcast_to(np.eye(x.shape[-1]), x.shape + (x.shape[-1],)).copy()


class FunctionDescriptor:
    """A descriptor from two user functions.

    Args:
        compute: x (n, D) → d (n, M).
        jacobian: x (n, D) → J (n, M, D).
    """

    is_identity = False

    def __init__(self, compute, jacobian):
        self._compute = compute
        self._jacobian = jacobian

    def compute(self, x):
        return np.asarray(self._compute(np.asarray(x, float)), float)

    def jacobian(self, x):
        return np.asarray(self._jacobian(np.asarray(x, float)), float)

"""Reproducible Gaussian noise streams for Euler–Maruyama samplers.

A :class:`NoiseStream` is the Brownian realization of one or more independent chains: the
increment ξ_t of chain c at step t (t = 0, 1, ...) is a fixed function of (seed, c, t), whatever
order or block size it is read in. Two samplers that each read chain c's increments in step
order therefore share one Brownian realization, which is how a trial compares samplers.
"""
from __future__ import annotations

import numpy as np

from .checks import positive_int

CHUNK_STEPS = 1024


def substream(seed: int, *keys: int) -> np.random.Generator:
    """The random stream of ``keys`` under ``seed``: a fixed function of (seed, keys), independent
    of every other key tuple. 2D chains use keys (chain, chunk); atomistic walks (move, attempt)."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in keys)))


class NoiseStream:
    """Standard normal increments ξ_t ∈ R^dim for ``chains`` independent chains.

    Args:
        seed: integer seed, or a ``numpy.random.Generator`` from which one seed is drawn.
        dim: dimension D of one increment.
        chains: number of independent chains B.

    Each chain has a cursor (its number of steps consumed). :meth:`take` reads the next
    ``n`` increments of every chain without moving the cursors; :meth:`advance` moves them.
    """

    def __init__(self, seed, dim: int, chains: int = 1):
        if isinstance(seed, np.random.Generator):
            seed = int(seed.integers(0, 2**63 - 1))
        if seed is None:
            raise ValueError("NoiseStream needs a seed or a numpy Generator (got None)")
        self.seed = int(seed)
        self.dim = positive_int("dim", dim)
        self.chains = positive_int("chains", chains)
        self.cursor = np.zeros(self.chains, dtype=np.int64)
        self._cache: dict[int, np.ndarray] = {}

    def _chunk(self, index: int) -> np.ndarray:
        """Increments of steps [index·C, (index+1)·C) of every chain, shape (chains, C, dim)."""
        if index not in self._cache:
            if len(self._cache) > 8:
                self._cache.pop(min(self._cache))
            self._cache[index] = np.stack([substream(self.seed, chain, index).standard_normal((CHUNK_STEPS, self.dim))
                                           for chain in range(self.chains)])
        return self._cache[index]

    def _gather(self, chains: np.ndarray, starts: np.ndarray, n_steps: int) -> np.ndarray:
        steps = starts[None, :] + np.arange(n_steps)[:, None]          # (n_steps, b)
        index, offset = np.divmod(steps, CHUNK_STEPS)
        out = np.empty((n_steps, len(chains), self.dim))
        for chunk in np.unique(index):
            where = index == chunk
            out[where] = self._chunk(int(chunk))[np.broadcast_to(chains, where.shape)[where], offset[where]]
        return out

    def take(self, n_steps: int, chains=None) -> np.ndarray:
        """The next ``n_steps`` increments of the given chains (default all): (n_steps, n_chains, dim)."""
        chains = np.arange(self.chains) if chains is None else np.asarray(chains, dtype=np.int64)
        return self._gather(chains, self.cursor[chains], n_steps)

    def advance(self, consumed, chains=None) -> None:
        """Move the cursors of ``chains`` (default all) by ``consumed`` steps (int or array)."""
        index = np.arange(self.chains) if chains is None else np.asarray(chains)
        self.cursor[index] += np.broadcast_to(np.asarray(consumed, dtype=np.int64), index.shape)


class ExplicitNoise:
    """A noise stream backed by a user array of shape (steps, chains, dim) or (steps, dim).

    Reading past the end raises ``ValueError``.
    """

    def __init__(self, increments):
        array = np.asarray(increments, dtype=float)
        if array.ndim == 2:
            array = array[:, None, :]
        if array.ndim != 3:
            raise ValueError(f"explicit noise must have shape (steps, chains, dim) or (steps, dim), got {array.shape}")
        if not np.all(np.isfinite(array)):
            raise ValueError("explicit noise contains NaN or infinite values")
        self.increments = array
        self.dim = array.shape[2]
        self.chains = array.shape[1]
        self.cursor = np.zeros(self.chains, dtype=np.int64)

    def take(self, n_steps: int, chains=None) -> np.ndarray:
        """Like NoiseStream.take; steps past the end are NaN (advance then raises)."""
        chains = list(range(self.chains)) if chains is None else list(chains)
        out = np.full((n_steps, len(chains), self.dim), np.nan)
        for column, c in enumerate(chains):
            start = int(self.cursor[c])
            available = max(min(n_steps, self.increments.shape[0] - start), 0)
            out[:available, column] = self.increments[start:start + available, c]
        return out

    def advance(self, consumed, chains=None) -> None:
        index = np.arange(self.chains) if chains is None else np.asarray(chains)
        self.cursor[index] += np.broadcast_to(np.asarray(consumed, dtype=np.int64), index.shape)
        if np.any(self.cursor > self.increments.shape[0]):
            raise ValueError("explicit noise stream exhausted: the sampler needed more steps than it holds")


def as_noise(noise, dim: int, chains: int):
    """Turn a seed, Generator, array or stream into a stream of the right dim and chains."""
    if isinstance(noise, (NoiseStream, ExplicitNoise)):
        stream = noise
    elif isinstance(noise, np.ndarray) and noise.dtype.kind == "f":
        stream = ExplicitNoise(noise)
    else:
        stream = NoiseStream(noise, dim, chains)
    if stream.dim != dim or stream.chains != chains:
        raise ValueError(f"noise stream has dim={stream.dim}, chains={stream.chains}; the sampler needs dim={dim}, chains={chains}")
    return stream

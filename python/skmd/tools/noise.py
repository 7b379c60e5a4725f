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
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def _chunk(self, chain: int, index: int) -> np.ndarray:
        key = (chain, index)
        if key not in self._cache:
            if len(self._cache) > 4 * self.chains + 16:
                self._cache.clear()
            sequence = np.random.SeedSequence(self.seed, spawn_key=(chain, index))
            self._cache[key] = np.random.default_rng(sequence).standard_normal((CHUNK_STEPS, self.dim))
        return self._cache[key]

    def block(self, chain: int, start: int, n_steps: int) -> np.ndarray:
        """Increments ξ_start … ξ_{start+n−1} of one chain, shape (n_steps, dim)."""
        out = np.empty((n_steps, self.dim))
        done = 0
        while done < n_steps:
            step = start + done
            index, offset = divmod(step, CHUNK_STEPS)
            count = min(CHUNK_STEPS - offset, n_steps - done)
            out[done:done + count] = self._chunk(chain, index)[offset:offset + count]
            done += count
        return out

    def take(self, n_steps: int, chains=None) -> np.ndarray:
        """The next ``n_steps`` increments of the given chains (default all): (n_steps, n_chains, dim)."""
        chains = range(self.chains) if chains is None else chains
        return np.stack([self.block(int(c), int(self.cursor[c]), n_steps) for c in chains], axis=1)

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

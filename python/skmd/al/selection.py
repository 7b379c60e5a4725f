"""Batch selection of a campaign: which candidates go to the oracle.

A selector is any callable ``selector(candidates, n_select, context) -> indices`` (ints into
``candidates``, at most ``n_select``, distinct); ``context`` is a :class:`SelectionContext`. Built in:

* ``"fps"``: furthest-point sampling on the sampler's model's MACE descriptors (sum-pooled invariant
  features), its distance field started from every frame already labelled for this sampler;
* ``"max_det"``, ``"lcmd"``, ``"max_dist"``, ``"random"``: :func:`skmd.uncertainty.selection.select_batch`
  on the model's sketched gradient features with the Gaussian-process posterior of the labelled frames;
  ``max_dist`` and ``lcmd`` also take each labelled frame's features as a centre of its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..atoms.mace_models import load_mace
from ..atoms.parallel import MACEFactory
from ..tools.selection import furthest_point_sampling
from ..uncertainty import GradientUncertainty
from ..uncertainty.feature_layers import DEFAULT_FEATURE_LAYERS
from ..uncertainty.selection import select_batch


@dataclass
class SelectionContext:
    """``model_path``: the model the candidates were sampled with; ``seen``: the frames labelled so far
    for this sampler (its training data); ``seed``; ``n_features``: gradient-feature sketch size;
    ``feature_layers``: the weights the gradient features cover (:mod:`skmd.uncertainty.features`)."""

    model_path: str
    seen: list
    seed: int
    n_features: int = 512
    feature_layers: str = DEFAULT_FEATURE_LAYERS
    _calculator: object = field(default=None, init=False, repr=False, compare=False)

    def calculator(self):
        """The model's calculator, built once per context (building a MACE takes seconds)."""
        if self._calculator is None:
            self._calculator = MACEFactory(str(self.model_path))()
        return self._calculator

    def descriptors(self, frames) -> np.ndarray:
        """(n, M) sum-pooled MACE descriptors of ``frames`` under the model."""
        descriptor = self.calculator().descriptor
        return np.stack([descriptor.compute(frame) for frame in frames])


def fps(candidates, n_select: int, context: SelectionContext) -> list:
    existing = context.descriptors(context.seen) if context.seen else None
    picks = furthest_point_sampling(context.descriptors(candidates), min(n_select, len(candidates)), existing=existing)
    return [int(i) for i in picks]


def uncertainty_selector(method: str):
    """A selector running ``method`` of :func:`skmd.uncertainty.selection.select_batch` on gradient features."""

    def select(candidates, n_select: int, context: SelectionContext) -> list:
        gradient = GradientUncertainty(load_mace(context.model_path), n_features=context.n_features,
                                       seed=context.seed, layers=context.feature_layers)
        train_features = gradient.add_training(context.seen)
        features = gradient.features.compute(candidates)[0]
        picks = select_batch(method, features, gradient.structure_posterior, min(n_select, len(candidates)),
                             seed=context.seed, train_features=train_features)
        return [int(i) for i in picks]

    select.__name__ = method
    return select


def builtin_selector(name: str):
    """The selector a config names (``"fps"`` or a method of :mod:`skmd.uncertainty.selection`)."""
    return fps if name == "fps" else uncertainty_selector(name)


def checked_picks(picks, n_candidates: int, n_select: int, who: str) -> list:
    """``picks`` as distinct ints in range; ValueError naming ``who`` (a user's selector) otherwise."""
    picks = [int(i) for i in picks]
    if len(set(picks)) != len(picks) or any(not 0 <= i < n_candidates for i in picks) or len(picks) > n_select:
        raise ValueError(f"the selector {who} returned {picks[:10]}: want at most {n_select} distinct indices "
                         f"in [0, {n_candidates})")
    return picks

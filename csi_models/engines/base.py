"""What every engine returns: plain arrays, no tables (results derive those in one place)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Layout:
    """The model as index arrays: which item measures which construct, and the paths."""

    constructs: tuple[str, ...]
    items: tuple[str, ...]
    membership: np.ndarray   # (items, constructs) 0/1
    formative: np.ndarray    # (constructs,) bool: mode B
    adjacency: np.ndarray    # (constructs, constructs) 0/1, [source, target]

    @classmethod
    def from_spec(cls, spec) -> "Layout":
        constructs = tuple(spec.construct_names)
        items = tuple(spec.item_names)
        membership = np.zeros((len(items), len(constructs)))
        for j, c in enumerate(spec.constructs):
            for name in c.item_names:
                membership[items.index(name), j] = 1.0
        adjacency = np.zeros((len(constructs), len(constructs)))
        for source, target in spec.paths:
            adjacency[constructs.index(source), constructs.index(target)] = 1.0
        formative = np.array([c.mode == "formative" for c in spec.constructs])
        return cls(constructs, items, membership, formative, adjacency)

    @property
    def block(self) -> np.ndarray:
        """(items,) index of each item's construct."""
        return self.membership.argmax(axis=1)

    def predecessors(self, j: int) -> np.ndarray:
        return np.flatnonzero(self.adjacency[:, j])

    @property
    def endogenous(self) -> list[int]:
        return [j for j in range(len(self.constructs)) if self.adjacency[:, j].any()]


@dataclass(frozen=True)
class Estimates:
    """An engine's numbers for one fit; every matrix is indexed like ``layout``.

    ``weights`` are standardized: applied to items z-scored with ``indices.index_moments`` they
    give scores of unit variance in the sample (CB-SEM with FIML: under the model). ``paths[i, j]`` is the standardized coefficient of construct i on j.
    """

    method: str
    layout: Layout
    weights: np.ndarray          # (items,)
    loadings: np.ndarray         # (items,) standardized loading on the item's own construct
    cross_loadings: np.ndarray   # (items, constructs) correlations of items with constructs
    paths: np.ndarray            # (constructs, constructs)
    r2: np.ndarray               # (constructs,), NaN for exogenous constructs
    construct_cor: np.ndarray    # (constructs, constructs)
    converged: bool
    iterations: int
    # CB-SEM extras (None for PLS)
    parameters: pd.DataFrame | None = None   # lavaan-style table: lhs, op, rhs, est, se, z, ...
    implied_cov: np.ndarray | None = None
    sample_cov: np.ndarray | None = None
    objective: float | None = None           # fit-function value at the estimates
    gradient_norm: float | None = None       # max |gradient| at the estimates
    extras: dict = field(default_factory=dict)

"""A spec as index arrays: the form every engine and every statistic works on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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

"""An item's answer scale: its theoretical bounds, which reverse coding, range checks and the
0-100 indices use."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scale:
    """Theoretical bounds of an answer scale (e.g. 1..10); the 0-100 indices use these.

    ``explicit`` is False only for the loader's fallback 1..10 (no ``scale:`` anywhere above
    the item): such items may take their bounds from the survey file's value labels instead.
    It does not take part in comparisons, so Scale(1, 10) == DEFAULT_SCALE.
    """

    min: float
    max: float
    explicit: bool = field(default=True, compare=False)


DEFAULT_SCALE = Scale(1, 10, explicit=False)

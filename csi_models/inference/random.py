"""The one random-state helper: seeds checked, recorded, and split into child streams.

Every random step of the library (bootstrap resamples, permutations, per-model and per-group
fits of ``compare``, batch runs) takes its stream from here, so a run is repeatable from the
integer seed recorded in its settings and does not depend on worker counts or order.
"""

from __future__ import annotations

import hashlib
import numbers

import numpy as np

from csi_models.errors import CSIError


def check_seed(random_state) -> None:
    """A seed every random step can take: a whole number >= 0, a numpy Generator or
    SeedSequence, or None (a fresh seed)."""
    if not (random_state is None or isinstance(random_state, (np.random.Generator, np.random.SeedSequence))
            or (isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool)
                and random_state >= 0)):
        raise CSIError(f"random_state={random_state!r}: give the seed as a whole number >= 0 "
                       "(e.g. random_state=1), a numpy Generator, or None for a fresh seed")


def seed_entropy(random_state) -> int:
    """The integer seed a run uses (recorded in settings, so any run can be repeated)."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2 ** 63))
    if isinstance(random_state, np.random.SeedSequence):
        return int(random_state.entropy)
    return int(random_state)


def child_seed(seed: int, key) -> int:
    """A child seed of ``seed`` for the task named ``key`` (a model label, a group label, a
    company key): derived from the key's text, not its position, so that adding, removing or
    reordering tasks leaves every other task's stream unchanged."""
    digest = hashlib.sha256(repr(key).encode("utf-8")).digest()
    words = [int.from_bytes(digest[k:k + 4], "little") for k in range(0, 16, 4)]
    state = np.random.SeedSequence(seed, spawn_key=tuple(words)).generate_state(2, np.uint64)
    return int(state[0] >> np.uint64(1))

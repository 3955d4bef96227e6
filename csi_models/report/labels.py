"""What the Kano and gap plots take from the caller: the text of each point and the axes.

Labels are names, not formulas: a ``$`` in a feature name is drawn as a dollar sign, not
as the start of matplotlib mathtext (which would fail when the figure is drawn).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from csi_models.errors import DataError

__all__ = ["point_labels", "plot_axes"]


def point_labels(index, labels, what: str) -> list[str]:
    """Text for each plotted point: the index itself, a mapping over it, or a list as long.

    ``labels``: None (the index), a dict or Series keyed by index entries (entries
    without a label keep their name) or a sequence with one label per point.
    """
    if isinstance(labels, pd.Series):
        if not labels.index.is_unique:
            raise DataError(f"labels (a Series) names some {what} twice: "
                            f"{list(labels.index[labels.index.duplicated()].unique())[:5]}")
        labels = labels.to_dict()
    if labels is None:
        names = [str(x) for x in index]
    elif isinstance(labels, Mapping):
        names = [str(labels.get(x, x)) for x in index]
    elif isinstance(labels, (str, bytes)) or not isinstance(labels, Iterable):
        raise DataError(f"labels must be a dict {{name: label}} or a list with one label per "
                        f"{what[:-1] if what.endswith('s') else what}, got {labels!r}")
    else:
        names = [str(x) for x in labels]
        if len(names) != len(index):
            raise DataError(f"labels has {len(names)} entries for {len(index)} {what}; give one "
                            "label per entry, or a dict for some of them")
    return [name.replace("$", r"\$") for name in names]


def plot_axes(ax, figsize):
    """``ax`` when it is a matplotlib Axes, a new constrained-layout figure's axes when None."""
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    if ax is None:
        return plt.subplots(figsize=figsize, layout="constrained")[1]
    if not isinstance(ax, Axes):
        raise DataError(f"ax must be a matplotlib Axes (e.g. from plt.subplots()), got "
                        f"{type(ax).__name__}")
    return ax

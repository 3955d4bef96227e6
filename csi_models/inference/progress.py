"""Progress bars for long work (CB-SEM bootstrap refits, permutation tests, many fits).

tqdm's auto mode: a widget in Jupyter when ipywidgets is installed, else a text bar on
stderr (which Jupyter shows too), with rate and ETA. ``progress=None`` (the default) shows the
bar only once the work has run for ``DELAY`` seconds, so quick jobs print nothing;
``progress=True`` shows it at once, ``progress=False`` never.
"""

from __future__ import annotations

__all__ = ["progress_bar", "DELAY"]

DELAY = 2.0  # seconds before an automatic bar appears


def _tqdm_class():
    try:
        import ipywidgets  # noqa: F401 - tqdm.auto needs it for the notebook widget
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm.std import tqdm
    return tqdm


def progress_bar(total: int, progress=None, desc: str = "", file=None):
    """A tqdm bar over ``total`` steps: ``bar.update(k)``, ``bar.close()`` (or ``with``);
    ``file``: where a text bar goes (default stderr)."""
    if progress is not None and not isinstance(progress, bool):
        from csi_models.errors import CSIError

        raise CSIError(f"progress must be True, False or None (automatic), got {progress!r}")
    tqdm = _tqdm_class()
    return tqdm(total=total, desc=desc, disable=progress is False,
                delay=0 if progress else DELAY, leave=bool(progress), unit="fit",
                dynamic_ncols=True, file=file)

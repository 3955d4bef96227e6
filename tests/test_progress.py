"""Progress bars: tqdm with an ETA, off with progress=False, delayed when automatic."""

import io

import pytest

from csi_models.errors import CSIError
from csi_models.inference.progress import DELAY, progress_bar


def test_bar_shows_count_and_eta():
    out = io.StringIO()
    bar = progress_bar(10, True, "bootstrap", file=out)
    bar.update(4)
    bar.refresh()
    text = out.getvalue()
    bar.close()
    assert "bootstrap" in text and "4/10" in text and "<" in text  # elapsed<remaining (ETA)


def test_off_and_automatic():
    assert progress_bar(5, False).disable
    auto = progress_bar(5, None)
    assert not auto.disable and auto.delay == DELAY == 2.0
    auto.close()
    with pytest.raises(CSIError, match="progress must be True, False or None"):
        progress_bar(5, "yes")

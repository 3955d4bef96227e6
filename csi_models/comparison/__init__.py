"""Models side by side on the same data (``models``), one model across groups (``groups``)."""

from csi_models.comparison.models import compare
from csi_models.comparison.table import Comparison

__all__ = ["Comparison", "compare"]

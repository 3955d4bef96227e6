"""csi-models: customer-satisfaction-index models (ACSI, ECSI, CCSI) by PLS and CB-SEM."""

__version__ = "0.1.0"

from csi_models import datasets, errors  # noqa: E402
from csi_models.compare import Comparison, compare  # noqa: E402
from csi_models.data import read_survey  # noqa: E402
from csi_models.fitting import fit  # noqa: E402
from csi_models.result import FitResult  # noqa: E402
from csi_models.spec import ModelSpec, load_spec, shipped_specs  # noqa: E402

__all__ = ["Comparison", "FitResult", "compare", "ModelSpec", "datasets", "errors", "fit", "load_spec", "read_survey",
           "shipped_specs"]

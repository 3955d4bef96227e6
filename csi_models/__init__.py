"""csi-models: customer-satisfaction-index models (ACSI, ECSI, CCSI) by PLS and CB-SEM."""

__version__ = "0.1.0"

from csi_models import datasets, errors, indices  # noqa: E402
from csi_models.compare import Comparison, compare  # noqa: E402
from csi_models.data import check, read_survey  # noqa: E402
from csi_models.fitting import fit  # noqa: E402
from csi_models.gaps import GapResult, gaps, plot_gaps  # noqa: E402
from csi_models.inference.bootstrap import BootstrapResult  # noqa: E402
from csi_models.kano import kano, kano_continuous, kano_priority, plot_kano, split_kano  # noqa: E402
from csi_models.result import FitResult  # noqa: E402
from csi_models.simulate import population, simulate  # noqa: E402
from csi_models.spec import ModelSpec, load_spec, shipped_specs  # noqa: E402

__all__ = ["BootstrapResult", "Comparison", "FitResult", "GapResult", "ModelSpec", "check", "compare",
           "datasets", "errors", "fit", "gaps", "indices", "kano", "kano_continuous", "kano_priority",
           "load_spec", "plot_gaps", "plot_kano", "population", "read_survey", "shipped_specs",
           "simulate", "split_kano"]

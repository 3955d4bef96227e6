"""The library's exceptions and warning classes.

Every problem a user can cause (a bad spec, bad data, a model that cannot be
estimated) surfaces as a subclass of :class:`CSIError` with a message that names
the offending item and says how to fix it. Warnings are classes too, so users
can filter them (``warnings.simplefilter("error", csi.errors.ConvergenceWarning)``).
"""


class CSIError(Exception):
    """Base class of every error raised on purpose by csi-models."""


class SpecError(CSIError, ValueError):
    """The model specification is malformed (YAML, names, graph)."""


class DataError(CSIError, ValueError):
    """The survey data cannot be used with the spec (columns, types, ranges)."""


class EstimationError(CSIError, RuntimeError):
    """The model could not be estimated (singular data, no convergence)."""


class CSIWarning(UserWarning):
    """Base class of every warning issued by csi-models."""


class DataWarning(CSIWarning):
    """The data are usable but suspicious (missing values, near-constant items)."""


class ConvergenceWarning(CSIWarning):
    """The estimator stopped before reaching its convergence criterion."""


class ImproperSolutionWarning(CSIWarning):
    """The estimates are inadmissible: negative variances, |std. path| > 1, correlations near 1."""


class IndexWarning(CSIWarning):
    """A 0-100 index (or an impact, or an IPMA entry) is not defined, e.g. a negative weight."""


class BootstrapWarning(CSIWarning):
    """Some bootstrap resamples failed (no convergence, singular data) or left a statistic
    undefined (a negative weight); they were left out of it, and counted (``n_boot``)."""


class KanoWarning(DataWarning):
    """Kano answers are usable but suspicious (many questionable pairs, no valid pairs)."""


class FontWarning(CSIWarning):
    """No installed font can draw the Chinese/Japanese/Korean labels of a plot."""


class OutputError(CSIError, OSError):
    """A report or export cannot be written (the file exists, the folder is missing, ...)."""

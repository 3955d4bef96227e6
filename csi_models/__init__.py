"""csi-models: customer-satisfaction-index models (ACSI, ECSI, CCSI) by PLS and CB-SEM.

The public API is re-exported here and loaded when first used, so that ``import csi_models``
stays light: semopy (and sympy), matplotlib and scipy.stats load only when a CB-SEM fit, a plot
or a test statistic needs them.
"""

from importlib import import_module

__version__ = "0.1.0"

#: public name -> module that defines it (or (module, name there))
_API = {
    "fit": "csi_models.fitting", "fit_moments": "csi_models.moments_fit",
    "FitResult": "csi_models.result",
    "BootstrapResult": "csi_models.inference.bootstrap",
    "compare": "csi_models.comparison", "Comparison": "csi_models.comparison",
    "check": "csi_models.data", "read_survey": "csi_models.data",
    "ModelSpec": "csi_models.spec", "load_spec": "csi_models.spec",
    "shipped_specs": "csi_models.spec",
    "simulate": "csi_models.simulation", "population": "csi_models.simulation",
    "kano": "csi_models.analysis.kano", "kano_continuous": "csi_models.analysis.kano",
    "kano_priority": "csi_models.analysis.kano", "plot_kano": "csi_models.analysis.kano",
    "split_kano": "csi_models.analysis.kano_layout",
    "gaps": "csi_models.analysis.gaps", "GapResult": "csi_models.analysis.gaps",
    "plot_gaps": "csi_models.analysis.gaps",
    "kano_from_counts": "csi_models.analysis.kano_counts",
    "kano_questionnaire": "csi_models.analysis.kano_questionnaire",
    "experience_net_value": "csi_models.analysis.experience",
    "negative_experience_cost": "csi_models.analysis.experience",
    "experience_shares": "csi_models.analysis.experience",
    "loyalty_segments": "csi_models.analysis.loyalty",
    "LoyaltySegments": "csi_models.analysis.loyalty",
    "index_from_summary": "csi_models.analysis.summary_index",
    "fit_higher_order": ("csi_models.engines.higher_order", "fit"),
    "fit_interaction": ("csi_models.engines.interactions", "fit"),
    "simple_slopes": "csi_models.engines.interactions",
    "fit_many": "csi_models.batch", "read_batch": "csi_models.batch",
    "aggregate": "csi_models.batch", "change": "csi_models.batch",
    "plan_sample": "csi_models.batch", "BatchResult": "csi_models.batch",
    "read_result": "csi_models.report.json_io",
}
_MODULES = ("datasets", "errors")

__all__ = sorted([*_API, *_MODULES])


def __getattr__(name):
    if name in _API:
        module, attr = _API[name] if isinstance(_API[name], tuple) else (_API[name], name)
        value = getattr(import_module(module), attr)
    elif name in _MODULES:
        value = import_module(f"csi_models.{name}")
    else:
        raise AttributeError(f"module 'csi_models' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *__all__])

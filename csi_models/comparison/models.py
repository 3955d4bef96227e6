"""``compare``: models side by side on the same data, or one model across groups.

``compare(["acsi", "ecsi", "ccsi"], data, method="cbsem")`` fits each model and returns a
``Comparison``: a tidy long ``table`` (one row per model, section, name, value; sections
sample, index (0-100), r2, path, fit) whose
``wide()`` view has a column per model; constructs or paths a model lacks are NaN. For
CB-SEM, every pair of models with the same measurement model where one's paths are a subset
of the other's (e.g. ``spec.drop_path(...)``) gets a chi-square difference test in ``tests``
(lavaan's ``lavTestLRT``: delta chisq on delta df, Satorra-Bentler scaled for robust
fits; columns ``NESTED_COLUMNS``).
Every test table names its p-value column ``p_value``.

``compare("acsi", data, by="industry")`` fits each group (see ``csi_models.comparison.groups``) and adds
tests of group differences: a permutation test of every path and R^2 for PLS, measurement
invariance steps for CB-SEM. A group that is too small or fails to fit is listed in
``status`` with the reason; the other groups' results are kept.
"""

from __future__ import annotations

import numbers
from itertools import permutations as ordered_pairs

import pandas as pd

from csi_models.comparison.table import Comparison, fit_quietly, result_rows, with_adjusted
from csi_models.errors import CSIError
from csi_models.inference.multiplicity import check_adjust
from csi_models.inference.random import child_seed, seed_entropy
from csi_models.spec import load_spec
from csi_models.statistics.fit_measures import chisq_difference

def _labels(models) -> dict:
    """{label: spec} from a name, a spec, a list of them, or a dict."""
    if isinstance(models, dict):
        return {str(k): load_spec(v) for k, v in models.items()}
    if not isinstance(models, (list, tuple)):
        models = [models]
    out = {}
    for m in models:
        spec = load_spec(m)
        label, k = spec.name, 2
        while label in out:
            label, k = f"{spec.name}#{k}", k + 1
        out[label] = spec
    return out


NESTED_COLUMNS = ["test", "restricted", "general", "chisq_diff", "df_diff", "p_value"]


def _likelihood(res) -> bool:
    """The fit has a likelihood-ratio chi-square (ML engines), so nested fits can be tested."""
    return "chisq" in res._engine.fit_keys


def _nested_tests(results: dict) -> pd.DataFrame:
    """Chi-square difference tests for every nested pair of ML (CB-SEM) fits."""
    rows = []
    for a, b in ordered_pairs(results, 2):
        ra, rb = results[a], results[b]
        if ra.method != rb.method or ra.n != rb.n or not _likelihood(ra) or not _likelihood(rb):
            continue
        same_measurement = ra.spec.constructs == rb.spec.constructs
        if same_measurement and set(ra.spec.paths) < set(rb.spec.paths):
            rows.append({"test": "chisq_difference", "restricted": a, "general": b,
                         **chisq_difference(ra.fit_indices, rb.fit_indices)})
    return pd.DataFrame(rows, columns=NESTED_COLUMNS)


def _integer_at_least(value, at_least: int) -> bool:
    return (not isinstance(value, bool) and isinstance(value, numbers.Integral)
            and value >= at_least)


def _check_arguments(method, permutations, random_state, min_size, fit_options) -> str:
    """compare's own arguments, and the names of the options it hands to ``csi.fit``; returns
    the method in fit's spelling."""
    from csi_models.engines.base import engine_name
    from csi_models.fitting import fit_options as fit_keywords
    from csi_models.inference.random import check_seed

    name = engine_name(method)
    allowed = [k for k in fit_keywords() if k != "random_state"]
    unknown = [k for k in fit_options if k not in allowed]
    if unknown:
        raise CSIError(f"compare() got unknown option(s) {', '.join(map(repr, unknown))}; it "
                       f"takes by, permutations, random_state, min_size and csi.fit's options: "
                       f"{', '.join(allowed)}")
    if not _integer_at_least(permutations, 0):
        raise CSIError(f"permutations={permutations!r}: give a whole number >= 0 (1000 is usual; "
                       "0 switches the group tests off)")
    if not _integer_at_least(min_size, 1):
        raise CSIError(f"min_size={min_size!r}: give the smallest group to fit as a whole "
                       "number >= 1")
    check_seed(random_state)
    return name


def compare(models, data, method: str = "pls", *, by: str | None = None,
            permutations: int = 1000, random_state=None, min_size: int = 10,
            adjust: str = "none", **fit_options) -> Comparison:
    """Compare models on the same data, or (``by=column``) one model across groups.

    models: a spec (shipped name, YAML path, dict, ModelSpec), a list of them, or a dict
    {label: spec}. data: a DataFrame (never modified) or a survey file path.
    method: 'pls' or 'cbsem'; ``fit_options`` go to ``csi.fit`` (missing, scheme, ...).
    by: a column of ``data`` holding the group (industry, company, segment, wave).
    permutations: the PLS multi-group permutation test (and MICOM); 0 switches them off, for
        a quick side-by-side table of many groups.
    adjust: 'none', 'holm' or 'bh' (Benjamini-Hochberg): ``tests`` gets a ``p_adjusted``
        column, adjusted across all its tests (``inference.multiplicity``).
    random_state: one seed for the whole comparison; every model's or group's fit (its
        bootstrap) and the permutation test get their own child seed, derived from the label,
        so a comparison is repeatable and adding a model or group leaves the others' numbers
        unchanged.
    min_size: groups with fewer rows are reported as too small and not fitted.
    """
    from csi_models.data import as_frame

    method = _check_arguments(method, permutations, random_state, min_size, fit_options)
    check_adjust(adjust)
    data = as_frame(data)
    if by is not None:
        from csi_models.comparison.groups import compare_groups

        specs = _labels(models)
        if len(specs) != 1:
            raise CSIError(f"compare(..., by={by!r}) compares one model across groups; "
                           f"got {len(specs)} models: {', '.join(specs)}")
        return compare_groups(next(iter(specs.values())), data, by, method,
                              permutations=permutations, random_state=random_state,
                              min_size=min_size, options=fit_options, adjust=adjust)
    specs = _labels(models)
    if not specs:
        raise CSIError("compare: models is empty; give a model (e.g. 'ecsi'), a list of them or "
                       "a dict {label: model}")
    seed = seed_entropy(random_state)
    results, status, rows = {}, [], []
    for label, spec in specs.items():
        res, state, message = fit_quietly(spec, data, method, fit_options,
                                          child_seed(seed, ("model", label)))
        status.append({"model": label, "n": None if res is None else res.n, "status": state,
                       "converged": None if res is None else res.converged, "message": message})
        if res is not None:
            results[label] = res
            rows += [(label, *r) for r in result_rows(res)]
    table = pd.DataFrame(rows, columns=["model", "section", "name", "value"])
    return Comparison(table=table, tests=with_adjusted(_nested_tests(results), adjust),
                      status=pd.DataFrame(status),
                      results=results, by="model")

"""Modification indices of a CB-SEM fit: the score (Lagrange multiplier) test of freeing one
fixed parameter at a time (Sorbom 1989; Saris, Satorra & Sorbom 1987 for the EPC).

With F the ML fit function, g = dF/dx and I = E[d2F/dx dx'] (``engines.mlkernel``) of the
model extended by the candidate parameters (all held at 0), for candidate j

    V_j = I_jj - I_j1 I_11^-1 I_1j        (1 = the model's free parameters)
    MI_j = (n / 2) g_j^2 / V_j,           EPC_j = -g_j / V_j,

and sepc_all is the EPC standardized as lavaan's std.all (loadings and paths by the model-
implied sds, residual covariances by the residual sds). Candidates, in lavaan's notation:
cross-loadings ``construct =~ item``, residual covariances between items ``a ~~ b`` and
between constructs' disturbances, and missing paths ``target ~ source`` (reverse paths
included), less those equivalent to a parameter of the model (V = 0), as lavaan does. Matches lavaan
0.6-14's ``modindices()`` to 1e-4 (tests/test_modindices.py; make_lavaan_refs.R, section 11).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csi_models.engines import mlkernel as mk


def _candidates(spec) -> list[tuple[str, str, str]]:
    """(lhs, op, rhs) of every parameter the spec fixes at 0 that could be freed."""
    own = {item: c.name for c in spec.constructs for item in c.item_names}
    items, constructs = spec.item_names, spec.construct_names
    out = [(c, "=~", i) for c in constructs for i in items if own[i] != c]
    declared = {frozenset(pair) for pair in spec.covariances}
    out += [(a, "~~", b) for k, a in enumerate(items) for b in items[k + 1:]
            if frozenset((a, b)) not in declared]
    exogenous = set(spec.exogenous)
    out += [(a, "~~", b) for k, a in enumerate(constructs) for b in constructs[k + 1:]
            if frozenset((a, b)) not in declared and not {a, b} <= exogenous]
    paths = set(spec.paths)
    out += [(t, "~", s) for t in constructs for s in constructs
            if s != t and (s, t) not in paths]
    return out


def modification_indices(spec, model, names: dict, x: np.ndarray, values: np.ndarray,
                         candidates=None) -> pd.DataFrame:
    """One row per candidate (lhs, op, rhs, mi, epc, sepc_all), sorted by mi (largest first).

    ``model``: the fitted semopy model of ``spec`` (``cbsem._build``, data loaded); ``names``:
    our names -> semopy's; ``x``: the estimates (``Estimates.extras['x']``); ``values``: the
    rows used (n x items, in semopy's observed order). ``candidates`` defaults to every
    cross-loading, residual covariance and missing path (``_candidates``)."""
    base = mk.Structure.from_semopy(model)
    candidates = _candidates(spec) if candidates is None else list(candidates)
    obs = {v: k for k, v in enumerate(base.observed)}
    lat = {v: k for k, v in enumerate(base.latent)}
    free = {kind: [list(a) for a in base.free[kind]] for kind in mk.KINDS}
    q = base.n_free
    for j, (lhs, op, rhs) in enumerate(candidates):
        a, b = names[lhs], names[rhs]
        if op == "=~":
            spots = [("lambda", obs[b], lat[a])]
        elif op == "~":
            spots = [("beta", lat[a], lat[b])]
        elif a in obs:
            spots = [("theta", obs[a], obs[b]), ("theta", obs[b], obs[a])]
        else:
            spots = [("psi", lat[a], lat[b]), ("psi", lat[b], lat[a])]
        for kind, r, c in spots:
            free[kind][0].append(q + j)
            free[kind][1].append(r)
            free[kind][2].append(c)
    extended = mk.Structure(base.observed, base.latent, base.base,
                            {k: tuple(np.array(v, int) for v in free[k]) for k in mk.KINDS},
                            q + len(candidates))
    z = np.concatenate([np.asarray(x, float), np.zeros(len(candidates))])[None]
    S, logdet = mk.sample_moments(values, [np.arange(len(values))])
    _, g, inv, parts = mk.loss_and_gradient(extended, z, S, logdet)
    info = mk.information(extended, inv, parts)[0]
    g = g[0, q:]
    I11, I12, I22 = info[:q, :q], info[:q, q:], info[q:, q:]
    V = np.diag(I22) - np.einsum("ij,ij->j", I12, np.linalg.solve(I11, I12))
    n = len(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        mi = n / 2 * g ** 2 / V
        epc = -g / V
    table = pd.DataFrame(candidates, columns=["lhs", "op", "rhs"])
    table["mi"], table["epc"] = mi, epc
    table["sepc_all"] = epc * _std_factor(table, names, base, x)
    # a candidate equivalent to the model's own parameters (V = 0: a path between two
    # correlated exogenous constructs, a cross-loading on a single-item construct's twin)
    # cannot be tested; lavaan drops it the same way (V/2 below eps^(1/3))
    keep = V / 2 >= np.finfo(float).eps ** (1 / 3)
    table = table[keep]
    return table.sort_values("mi", ascending=False, kind="stable").reset_index(drop=True)


def _std_factor(table, names, base, x) -> np.ndarray:
    """lavaan's std.all factor of each candidate row at the estimates."""
    sigma, (lam, A, psi, M) = mk.implied(base, np.asarray(x, float)[None])
    mats = base.matrices(np.asarray(x, float)[None])
    sd = {**dict(zip(base.observed, np.sqrt(np.abs(np.diag(sigma[0]))))),
          **dict(zip(base.latent, np.sqrt(np.abs(np.diag(M[0])))))}
    residual = {**dict(zip(base.observed, np.diag(mats["theta"][0]))),
                **dict(zip(base.latent, np.diag(mats["psi"][0])))}
    out = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for r in table.itertuples():
            a, b = names[r.lhs], names[r.rhs]
            if r.op == "=~":
                out.append(sd[a] / sd[b])
            elif r.op == "~":
                out.append(sd[b] / sd[a])
            else:
                out.append(1 / np.sqrt(residual[a] * residual[b]))
    out = np.array(out, float)
    return np.where(np.isfinite(out), out, np.nan)  # a residual variance fixed at 0: NaN


def for_fit(spec, survey, estimates, candidates=None) -> pd.DataFrame:
    """``modification_indices`` of a complete-data CB-SEM fit of ``spec`` to ``survey`` (the
    prepared data the fit used) with ``estimates`` (its ``Estimates``); in our names."""
    from csi_models.engines import cbsem
    from csi_models.errors import EstimationError

    if estimates.method != "cbsem" or survey.missing == "fiml":
        raise EstimationError("modification indices need a complete-data CB-SEM fit "
                              "(method='cbsem', missing='listwise'); refit that way")
    if getattr(survey, "weights", None) is not None:   # as lavaan: ML's view, the weighted S
        from dataclasses import replace

        from csi_models.engines.cbsem_weights import moment_frame

        survey = replace(survey, weights=None, values=moment_frame(
            survey.values[list(estimates.layout.items)], survey.weights))
    model, frame, names, _ = cbsem._build(spec, estimates.layout, survey, survey.missing)
    model.load(frame)
    values = frame[list(mk.Structure.from_semopy(model).observed)].to_numpy(float)
    return modification_indices(spec, model, names, estimates.extras["x"], values, candidates)

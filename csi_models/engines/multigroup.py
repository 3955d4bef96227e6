"""Multi-group CB-SEM by maximum likelihood with equality constraints: invariance steps.

The spec's model (the same one ``engines.cbsem`` fits: first loading 1, exogenous constructs
correlated, uncorrelated disturbances, a single item's residual fixed at 0) with a mean
structure, in every group at once:

    Sigma_g = Lambda A Psi A' Lambda' + Theta,  mu_g = nu + Lambda A alpha,  A = (I - B')^-1

and the stacked discrepancy chisq = sum_g n_g F_g (lavaan's ML, N divisor). Steps (Meredith
1993; lavaan's ``group.equal``): configural (all free, latent means 0), metric (loadings
equal), scalar (loadings and item intercepts equal, latent means/intercepts free in groups
2..G). The analytic gradient of F is written out below; the optimum is found by Fisher scoring
and then Newton steps on a Hessian differenced from that gradient, from the per-group estimates.
Matches lavaan 0.6 (``cfa(..., group=, group.equal=)``, polished) on the Holzinger-Swineford
data to 1e-6 in chi-square (tests/test_compare.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from csi_models.engines.optimize import fisher_scoring, newton, numeric_hessian
from csi_models.errors import EstimationError
from csi_models.statistics.fit_measures import Moments, chisq_difference, ml_measures

STEPS = ("configural", "metric", "scalar")


@dataclass
class _Slot:
    group: int
    matrix: str      # "L" (items x constructs), "B" (source x target), "P" (psi), "T" (theta), "n" (nu), "a" (alpha)
    i: int
    j: int
    key: tuple       # parameters with the same key share one value


def _slots(layout, n_groups: int, step: str) -> list[_Slot]:
    J, p = len(layout.constructs), len(layout.items)
    M, adj = layout.membership, layout.adjacency
    exo = [j for j in range(J) if not adj[:, j].any()]
    slots = []
    for g in range(n_groups):
        own = lambda kind, *idx: (kind, *idx, g)  # noqa: E731 - a group's private parameter
        shared = lambda kind, *idx: (kind, *idx)  # noqa: E731
        for j in range(J):
            items = np.flatnonzero(M[:, j])
            for i in items[1:]:  # the first loading is fixed at 1
                slots.append(_Slot(g, "L", i, j, (shared if step != "configural" else own)("L", i, j)))
        for s, t in zip(*np.nonzero(adj)):
            slots.append(_Slot(g, "B", s, t, own("B", s, t)))
        for a in exo:
            for b in exo:
                if b <= a:
                    slots.append(_Slot(g, "P", a, b, own("P", a, b)))
        for j in range(J):
            if j not in exo:
                slots.append(_Slot(g, "P", j, j, own("P", j, j)))
        single = {np.flatnonzero(M[:, j])[0] for j in range(J) if M[:, j].sum() == 1}
        for i in range(p):
            if i not in single:
                slots.append(_Slot(g, "T", i, i, own("T", i)))
            slots.append(_Slot(g, "n", i, 0, (shared if step == "scalar" else own)("n", i)))
        if step == "scalar" and g > 0:
            for j in range(J):
                slots.append(_Slot(g, "a", j, 0, own("a", j)))
    return slots


class MultiGroupModel:
    """The stacked ML problem for one invariance step; ``fit`` returns a MultiGroupFit."""

    def __init__(self, layout, moments: list[Moments], step: str):
        if step not in STEPS:
            raise EstimationError(f"invariance step {step!r}: use one of {', '.join(STEPS)}")
        self.layout, self.moments, self.step = layout, moments, step
        self.slots = _slots(layout, len(moments), step)
        keys = list(dict.fromkeys(s.key for s in self.slots))
        self.index = {k: n for n, k in enumerate(keys)}
        self.npar = len(keys)
        J, p = len(layout.constructs), len(layout.items)
        self.markers = [(np.flatnonzero(layout.membership[:, j])[0], j) for j in range(J)]
        self.shape = {"L": (p, J), "B": (J, J), "P": (J, J), "T": (p, p), "n": (p, 1), "a": (J, 1)}

    def _scatter(self):
        """Per group and matrix: (rows, cols, parameter index, gradient factor) arrays."""
        if not hasattr(self, "_where"):
            self._where = []
            for g in range(len(self.moments)):
                per = {}
                for kind in self.shape:
                    mine = [s for s in self.slots if s.group == g and s.matrix == kind]
                    per[kind] = (np.array([s.i for s in mine], int), np.array([s.j for s in mine], int),
                                 np.array([self.index[s.key] for s in mine], int),
                                 np.array([2.0 if kind == "P" and s.i != s.j else 1.0 for s in mine]))
                self._where.append(per)
        return self._where

    def matrices(self, x: np.ndarray, g: int) -> dict:
        mats = {k: np.zeros(s) for k, s in self.shape.items()}
        for i, j in self.markers:
            mats["L"][i, j] = 1.0
        for kind, (rows, cols, idx, _) in self._scatter()[g].items():
            mats[kind][rows, cols] = x[idx]
        P = mats["P"]
        mats["P"] = P + np.tril(P, -1).T
        return mats

    def implied(self, x: np.ndarray, g: int):
        m = self.matrices(x, g)
        A = np.linalg.inv(np.eye(len(m["B"])) - m["B"].T)
        C = A @ m["P"] @ A.T
        Sigma = m["L"] @ C @ m["L"].T + m["T"]
        mu = m["n"][:, 0] + m["L"] @ A @ m["a"][:, 0]
        return Sigma, mu, m, A, C

    def fun(self, x: np.ndarray) -> float:
        """chisq-scaled discrepancy sum_g n_g (log|Sigma_g| + tr(S_g Sigma_g^-1) + d'Sigma_g^-1 d)
        (constants dropped)."""
        total = 0.0
        for g, mom in enumerate(self.moments):
            Sigma, mu, *_ = self.implied(x, g)
            try:
                chol = np.linalg.cholesky(Sigma)
            except np.linalg.LinAlgError:
                return np.inf   # not positive definite: outside the admissible region
            logdet = 2 * np.log(np.diag(chol)).sum()
            d = mom.m - mu
            Si = np.linalg.inv(Sigma)
            total += mom.n * (logdet + np.trace(mom.S @ Si) + d @ Si @ d)
        return total

    def grad(self, x: np.ndarray) -> np.ndarray:
        """Analytic gradient: with G = Sigma^-1 - Sigma^-1 (S + dd') Sigma^-1, g = -2 Sigma^-1 d,
        C = A Psi A': dLambda = 2 G Lambda C + g (A alpha)', dPsi = A'Lambda'G Lambda A,
        dTheta = G, dnu = g, dalpha = A'Lambda'g, dB = (2 A'Lambda'G Lambda C + A'Lambda'g alpha'A')'."""
        out = np.zeros(self.npar)
        for g, mom in enumerate(self.moments):
            Sigma, mu, m, A, C = self.implied(x, g)
            Pi = np.linalg.inv(Sigma)
            d = mom.m - mu
            G = Pi - Pi @ (mom.S + np.outer(d, d)) @ Pi
            gm = -2 * Pi @ d
            L, alpha = m["L"], m["a"][:, 0]
            LtGL = L.T @ G @ L
            parts = {
                "L": 2 * G @ L @ C + np.outer(gm, A @ alpha),
                "P": A.T @ LtGL @ A,
                "T": G,
                "n": gm[:, None],
                "a": (A.T @ L.T @ gm)[:, None],
                "B": (2 * A.T @ LtGL @ C + A.T @ L.T @ np.outer(gm, alpha) @ A.T).T,
            }
            for kind, (rows, cols, idx, factor) in self._scatter()[g].items():
                np.add.at(out, idx, mom.n * factor * parts[kind][rows, cols])
        return out

    def start(self, per_group: list[dict]) -> np.ndarray:
        """Start values: the mean over groups of each parameter's per-group value."""
        sums, counts = np.zeros(self.npar), np.zeros(self.npar)
        for s in self.slots:
            value = per_group[s.group].get((s.matrix, s.i, s.j), 0.0)
            sums[self.index[s.key]] += value
            counts[self.index[s.key]] += 1
        return sums / counts

    def information(self, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
        """Expected Hessian of ``fun``: sum_g n_g [tr(Sigma^-1 dSigma_k Sigma^-1 dSigma_l)
        + 2 dmu_k' Sigma^-1 dmu_l], the moment derivatives by central differences."""
        H = np.zeros((self.npar, self.npar))
        for g, mom in enumerate(self.moments):
            Sigma, *_ = self.implied(x, g)
            vals, vecs = np.linalg.eigh(Sigma)
            root = vecs @ np.diag(vals ** -0.5) @ vecs.T     # Sigma^-1/2
            rows = []
            for k in range(self.npar):
                e = np.zeros(self.npar)
                e[k] = h * max(1.0, abs(x[k]))
                up, down = self.implied(x + e, g), self.implied(x - e, g)
                dS = (up[0] - down[0]) / (2 * e[k])
                dm = (up[1] - down[1]) / (2 * e[k])
                rows.append(np.concatenate([(root @ dS @ root).ravel(), np.sqrt(2) * root @ dm]))
            V = np.array(rows)
            H += mom.n * V @ V.T
        return H

    def hessian(self, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
        """Central differences of the analytic gradient, symmetrized."""
        return numeric_hessian(self.grad, x, h)

    def fit(self, x0: np.ndarray, max_scoring: int = 100) -> "MultiGroupFit":
        """Fisher scoring from ``x0`` (robust far from the optimum), then Newton steps on the
        differenced Hessian (quadratic near it): ``engines.optimize``, as for single groups."""
        n = sum(m.n for m in self.moments)
        x = fisher_scoring(self.fun, self.grad, self.information, x0, tol=1e-7 * n,
                           max_iter=max_scoring, min_step=1e-10)
        x, _ = newton(self.grad, x, self.hessian, tol=1e-12 * n)
        gradient = float(np.abs(self.grad(x)).max()) / n
        return MultiGroupFit(self, x, gradient)


@dataclass
class MultiGroupFit:
    model: MultiGroupModel
    x: np.ndarray
    gradient_norm: float   # max |gradient| of chisq / N

    @property
    def converged(self) -> bool:
        return self.gradient_norm < 1e-6

    @property
    def fit_indices(self) -> pd.Series:
        groups = []
        for g, mom in enumerate(self.model.moments):
            Sigma, mu, *_ = self.model.implied(self.x, g)
            groups.append(Moments(mom.S, Sigma, mom.n, mom.m, mu))
        return ml_measures(groups, self.model.npar)


def per_group_values(parameters: pd.DataFrame, layout, mean: np.ndarray) -> dict:
    """A single-group CB-SEM parameter table as {(matrix, i, j): value} start values."""
    c = {name: k for k, name in enumerate(layout.constructs)}
    it = {name: k for k, name in enumerate(layout.items)}
    out = {}
    for r in parameters.itertuples():
        if r.op == "=~":
            out[("L", it[r.rhs], c[r.lhs])] = r.est
        elif r.op == "~":
            out[("B", c[r.rhs], c[r.lhs])] = r.est
        elif r.op == "~~" and r.lhs in c:
            a, b = sorted((c[r.lhs], c[r.rhs]), reverse=True)
            out[("P", a, b)] = r.est
        elif r.op == "~~" and r.lhs == r.rhs:
            out[("T", it[r.lhs], it[r.lhs])] = r.est
    out.update({("n", i, 0): v for i, v in enumerate(mean)})
    return out


INVARIANCE_COLUMNS = ["test", "step", "chisq", "df", "chisq_p_value", "npar", "cfi", "tli", "rmsea",
                      "srmr", "aic", "bic", "logl", "gradient_norm", "converged", "chisq_diff",
                      "df_diff", "p_value", "groups"]
_FIT_KEYS = {"chisq": "chisq", "df": "df", "chisq_p_value": "pvalue", "npar": "npar", "cfi": "cfi",
             "tli": "tli", "rmsea": "rmsea", "srmr": "srmr", "aic": "aic", "bic": "bic", "logl": "logl"}


def invariance(layout, moments: list[Moments], starts: list[dict], labels) -> pd.DataFrame:
    """Configural, metric and scalar fits with chi-square difference tests to the step
    before (lavaan's lavTestLRT for nested ML fits). One row per step, columns
    ``INVARIANCE_COLUMNS``: the step's fit (``chisq_p_value`` is its exact-fit test, lavaan's
    ``pvalue``) and the difference test (chisq_diff, df_diff, p_value; NaN for configural)."""
    rows, previous, x_prev = [], None, None
    for step in STEPS:
        model = MultiGroupModel(layout, moments, step)
        x0 = model.start(starts)
        if x_prev is not None:  # carry over the previous step's solution where it applies
            x0 = _carry(model, x_prev[0], x_prev[1], x0)
        result = model.fit(x0)
        f = result.fit_indices
        row = {"test": "invariance", "step": step, **{k: f[v] for k, v in _FIT_KEYS.items()},
               "gradient_norm": result.gradient_norm, "converged": result.converged}
        if previous is not None:
            row.update(chisq_difference(f, previous))
        rows.append(row)
        previous, x_prev = f, (model, result.x)
    table = pd.DataFrame(rows, columns=INVARIANCE_COLUMNS)
    table["groups"] = ";".join(map(str, labels))
    return table


def _carry(model: MultiGroupModel, old: MultiGroupModel, x_old: np.ndarray, x0: np.ndarray):
    """Start a step from the previous step's solution (shared values averaged)."""
    where = {(s.group, s.matrix, s.i, s.j): model.index[s.key] for s in model.slots}
    sums, counts = np.zeros(model.npar), np.zeros(model.npar)
    for s in old.slots:
        k = where.get((s.group, s.matrix, s.i, s.j))
        if k is not None:
            sums[k] += x_old[old.index[s.key]]
            counts[k] += 1
    return np.where(counts > 0, sums / np.maximum(counts, 1), x0)

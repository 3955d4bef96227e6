"""Multi-group CB-SEM by maximum likelihood with equality constraints: invariance steps.

The spec's model (the same one ``engines.cbsem`` fits: first loading 1, exogenous constructs
correlated, disturbances uncorrelated but for the spec's residual covariances, which are
free in every group as lavaan's ``group.equal`` leaves them, a single item's residual fixed
at 0) with a mean structure, in every group at once:

    Sigma_g = Lambda A Psi A' Lambda' + Theta,  mu_g = nu + Lambda A alpha,  A = (I - B')^-1

and the stacked discrepancy chisq = sum_g n_g F_g (lavaan's ML, N divisor). Steps (Meredith
1993; lavaan's ``group.equal``): configural (all free, latent means 0), metric (loadings
equal), scalar (loadings and item intercepts equal, latent means/intercepts free in groups
2..G). The groups are the stack of the batched ML kernel (``engines.mlkernel``, with the mean
structure of ``engines.mlmeans``): one shared parameter vector is mapped to every group's
parameters (equality constraints are shared entries), the gradient and the expected
information are the n_g-weighted sums of the groups' mapped back. The optimum is found by
Fisher scoring and then Newton steps on a Hessian differenced from that gradient (all its
columns in one kernel call), from the per-group estimates. Matches lavaan 0.6
(``cfa(..., group=, group.equal=)``, polished) on the Holzinger-Swineford data to 1e-6 in
chi-square (tests/test_compare.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from csi_models.engines import mlkernel as mk
from csi_models.engines import mlmeans as mm
from csi_models.engines.optimize import fisher_scoring, newton
from csi_models.errors import EstimationError
from csi_models.statistics.fit_measures import Moments, ml_measures

STEPS = ("configural", "metric", "scalar")


@dataclass
class _Slot:
    group: int
    matrix: str      # "L" (items x constructs), "B" (source x target), "P" (psi), "T" (theta), "n" (nu), "a" (alpha)
    i: int
    j: int
    key: tuple       # parameters with the same key share one value


def residual_covariances(spec, layout) -> list[tuple]:
    """The spec's ``covariances`` as slots' (matrix, i, j), i > j: "T" between two items'
    errors, "P" between two constructs' disturbances; a pair of exogenous constructs, whose
    covariance is free anyway, is left out."""
    item, construct = ({n: k for k, n in enumerate(names)}
                       for names in (layout.items, layout.constructs))
    exo = {j for j in range(len(layout.constructs)) if not layout.adjacency[:, j].any()}
    out = []
    for a, b in spec.covariances:
        if a in construct:
            i, j = sorted((construct[a], construct[b]), reverse=True)
            if not {i, j} <= exo:
                out.append(("P", i, j))
        else:
            i, j = sorted((item[a], item[b]), reverse=True)
            out.append(("T", i, j))
    return list(dict.fromkeys(out))


def _slots(layout, n_groups: int, step: str, covariances=()) -> list[_Slot]:
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
        for matrix, i, j in covariances:
            slots.append(_Slot(g, matrix, i, j, own(matrix, i, j)))
        if step == "scalar" and g > 0:
            for j in range(J):
                slots.append(_Slot(g, "a", j, 0, own("a", j)))
    return slots


def _structure(layout, local: list[tuple]) -> mk.Structure:
    """The kernel's covariance structure of one group from the layout: the first loading of
    each construct fixed at 1; ``local`` lists the free covariance parameters (matrix, i, j)
    in the order of the group's parameter vector (B as [source, target], P lower triangle)."""
    J, p = len(layout.constructs), len(layout.items)
    base = {"lambda": np.zeros((p, J)), "beta": np.zeros((J, J)), "psi": np.zeros((J, J)),
            "theta": np.zeros((p, p))}
    for j in range(J):
        base["lambda"][np.flatnonzero(layout.membership[:, j])[0], j] = 1.0
    spots = {kind: [] for kind in base}
    for k, (matrix, i, j) in enumerate(local):
        if matrix == "L":
            spots["lambda"].append((k, i, j))
        elif matrix == "B":           # the kernel's beta is [target, source]
            spots["beta"].append((k, j, i))
        else:
            kind = "psi" if matrix == "P" else "theta"
            spots[kind] += [(k, i, j)] + ([(k, j, i)] if i != j else [])
    free = {kind: tuple(np.array(v, int).reshape(-1, 3).T) for kind, v in spots.items()}
    return mk.Structure(tuple(layout.items), tuple(layout.constructs), base, free, len(local))


class MultiGroupModel:
    """The stacked ML problem for one invariance step; ``fit`` returns a MultiGroupFit.

    Every group has the same local parameter vector (the kernel's covariance parameters, nu,
    alpha: ``engines.mlmeans``); ``self.map[g]`` says which shared parameter each local one
    is (equal keys: equality constraints), or ``npar`` for a latent mean fixed at 0."""

    def __init__(self, layout, moments: list[Moments], step: str, covariances=()):
        if step not in STEPS:
            raise EstimationError(f"invariance step {step!r}: use one of {', '.join(STEPS)}")
        self.layout, self.moments, self.step = layout, moments, step
        self.slots = _slots(layout, len(moments), step, covariances)
        keys = list(dict.fromkeys(s.key for s in self.slots))
        self.index = {k: n for n, k in enumerate(keys)}
        self.npar = len(keys)
        J, p = len(layout.constructs), len(layout.items)
        local = [(s.matrix, s.i, s.j) for s in self.slots if s.group == 0 and s.matrix in "LBPT"]
        self.means = mm.MeanStructure(_structure(layout, local))
        position = {key: k for k, key in enumerate(
            local + [("n", i, 0) for i in range(p)] + [("a", j, 0) for j in range(J)])}
        self.map = np.full((len(moments), self.means.n_free), self.npar)
        for s in self.slots:
            self.map[s.group, position[(s.matrix, s.i, s.j)]] = self.index[s.key]
        self.n = np.array([m.n for m in moments], float)
        self.S = np.stack([m.S for m in moments])
        self.m = np.stack([m.m for m in moments])
        self.logdet_S = np.linalg.slogdet(self.S)[1]

    def local(self, x: np.ndarray) -> np.ndarray:
        """Shared parameter vectors (K, npar) -> every group's parameters (K * G, local)."""
        padded = np.concatenate([np.atleast_2d(x), np.zeros((len(np.atleast_2d(x)), 1))], axis=1)
        return padded[:, self.map].reshape(-1, self.means.n_free)

    def implied(self, x: np.ndarray):
        """(Sigma (G, p, p), mu (G, p)) at the shared parameters x."""
        sigma, mu, _, _ = self.means.implied(self.local(x))
        return sigma, mu

    def fun(self, x: np.ndarray) -> float:
        """chisq = sum_g n_g F_g (inf where a group's Sigma is not positive definite)."""
        return float(self.n @ self.means.loss(self.local(x), self.S, self.logdet_S, self.m))

    def _gather(self, g: np.ndarray) -> np.ndarray:
        """Local gradients (K * G, local) weighted by n_g -> shared gradients (K, npar)."""
        G, K = len(self.moments), len(g) // len(self.moments)
        idx = self.map[None] + (self.npar + 1) * np.arange(K)[:, None, None]
        weighted = g.reshape(K, G, -1) * self.n[None, :, None]
        out = np.bincount(idx.ravel(), weighted.ravel(), minlength=K * (self.npar + 1))
        return out.reshape(K, self.npar + 1)[:, :self.npar]

    def grads(self, x: np.ndarray) -> np.ndarray:
        """Analytic gradients of ``fun`` at a stack of shared vectors x (K, npar), in one
        kernel call over K x G data sets."""
        K = len(x)
        g = self.means.loss_and_gradient(self.local(x), np.tile(self.S, (K, 1, 1)),
                                         np.tile(self.logdet_S, K), np.tile(self.m, (K, 1)))[1]
        return self._gather(g)

    def grad(self, x: np.ndarray) -> np.ndarray:
        return self.grads(np.atleast_2d(x))[0]

    def information(self, x: np.ndarray) -> np.ndarray:
        """Expected information of ``fun``: sum_g n_g O_g' I_g O_g (O_g: shared -> local)."""
        _, _, inv, parts, a_alpha = self.means.loss_and_gradient(self.local(x), self.S,
                                                                 self.logdet_S, self.m)
        info = self.means.information(inv, parts, a_alpha) * self.n[:, None, None]
        H = np.zeros((self.npar + 1, self.npar + 1))
        for g, rows in enumerate(self.map):
            np.add.at(H, (rows[:, None], rows[None, :]), info[g])
        return H[:self.npar, :self.npar]

    def hessian(self, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
        """Central differences of the analytic gradient, every column in one batched call."""
        step = h * np.maximum(1.0, np.abs(x))
        E = np.diag(step)
        g = self.grads(np.concatenate([x + E, x - E]))
        H = ((g[:self.npar] - g[self.npar:]) / (2 * step[:, None])).T
        return (H + H.T) / 2

    def start(self, per_group: list[dict]) -> np.ndarray:
        """Start values: the mean over groups of each parameter's per-group value."""
        sums, counts = np.zeros(self.npar), np.zeros(self.npar)
        for s in self.slots:
            value = per_group[s.group].get((s.matrix, s.i, s.j), 0.0)
            sums[self.index[s.key]] += value
            counts[self.index[s.key]] += 1
        return sums / counts

    def fit(self, x0: np.ndarray, max_scoring: int = 100) -> "MultiGroupFit":
        """Fisher scoring from ``x0`` (robust far from the optimum), then Newton steps on the
        differenced Hessian (quadratic near it): ``engines.optimize``, as for single groups."""
        from threadpoolctl import threadpool_limits

        n = self.n.sum()
        # small matrices gain nothing from threaded BLAS; on a busy machine its threads made
        # each solve of the information 100x slower (as in engines.cbsem)
        with threadpool_limits(1):
            x = fisher_scoring(self.fun, self.grad, self.information, x0, tol=1e-7 * n,
                               max_iter=max_scoring, min_step=1e-10)
            x, _ = newton(self.grad, x, self.hessian, tol=1e-12 * n)
        return self.at(x)

    def case_scores(self, x: np.ndarray, values: list) -> np.ndarray:
        """(N, npar): each respondent's score of the normal log-likelihood (``values``: each
        group's answers) in the shared parameters: J' P z through the means (J = dmu/dx, z
        the residual from the group's implied mean, P = Sigma^-1) plus, for the covariance
        parameters, ``cbsem_robust.case_scores`` (1/2 D' vec(P z z' P - P), in blocks)."""
        from csi_models.engines.cbsem_robust import case_scores, sigma_jacobian

        local = self.local(x)
        sigma, mu, parts, a_alpha = self.means.implied(local)
        J = self.means.mean_jacobian(parts, a_alpha)
        q = self.means.q
        out = []
        for g, X in enumerate(values):
            Z = X - mu[g]
            s = Z @ np.linalg.inv(sigma[g]) @ J[g]
            s[:, :q] += case_scores(sigma_jacobian(self.means.structure, local[g, :q])[1],
                                    sigma[g], Z)
            to_shared = np.zeros((self.means.n_free, self.npar + 1))
            to_shared[np.arange(self.means.n_free), self.map[g]] = 1
            out.append(s @ to_shared[:, :self.npar])
        return np.concatenate(out)

    def scaling(self, x: np.ndarray, values: list, weights: list | None = None) -> dict:
        """lavaan's Yuan-Bentler (Mplus) scaling factors of the stacked chi-square: c = (h1 -
        h0) / df with h0 = tr(A^-1 B) of the model per respondent (A: the expected
        information over 2N, as MLR with information = "expected"; with respondent
        ``weights`` (normalized over all groups to sum to N, so that a group's sum is its
        moments' n), the observed one, as lavaan's sampling.weights; B: the
        (weight-squared) scores' cross-products over N) and h1 the unrestricted models'
        traces (means and covariances) summed over the groups; ``c_base`` the same with the independence model (means and variances)
        as the model. ``scaling.factor.h0`` divides h0 by the free entries counted in every
        group, equal ones apart, as lavaan does."""
        from csi_models.engines.cbsem_robust import baseline_trace, unrestricted_trace

        N, G, p = self.n.sum(), len(values), values[0].shape[1]
        w = [None] * G if weights is None else weights
        scores = self.case_scores(x, values)
        if weights is not None:
            scores = scores * np.concatenate(weights)[:, None]
        A = self.information(x) if weights is None else self.hessian(x)
        h0 = float(np.trace(np.linalg.solve(A / (2 * N), scores.T @ scores / N)))
        # a group's traces per unit of weight, sum w^2 (...) / sum w (the traces' own
        # weights sum to the group's rows)
        h1 = sum(unrestricted_trace(X, wg, means=True) * n / len(X)
                 for X, wg, n in zip(values, w, self.n))
        base = sum(baseline_trace(X, wg, means=True) * n / len(X)
                   for X, wg, n in zip(values, w, self.n))
        df, df_base = G * p * (p + 3) / 2 - self.npar, G * p * (p - 1) / 2
        return {"c": (h1 - h0) / df if df > 0 else np.nan, "c_base": (h1 - base) / df_base,
                "scaling.factor.h1": h1 / (G * p * (p + 3) / 2),
                "scaling.factor.h0": h0 / int((self.map < self.npar).sum())}

    def at(self, x: np.ndarray) -> "MultiGroupFit":
        """The fit at x as it stands (max |gradient| of chisq / N)."""
        return MultiGroupFit(self, x, float(np.abs(self.grad(x)).max()) / self.n.sum())


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
        sigma, mu = self.model.implied(self.x)
        groups = [Moments(mom.S, sigma[g], mom.n, mom.m, mu[g])
                  for g, mom in enumerate(self.model.moments)]
        return ml_measures(groups, self.model.npar)

"""One experiment's inner problem of the decomposition, for fixed network weights.

For weights ``theta`` the experiment's discretized model is solved on its own:

.. math::

    V_e(\\theta) = \\min_{x, d^+, d^-} \\; f_e(x) + \\rho \\sum_{p,o} w_{o} (d^+_{po} + d^-_{po})
    \\quad \\text{s.t.} \\quad c(x) = 0, \\;
    z_{po} - \\mathrm{NN}_o(v_p; \\theta) = d^+_{po} - d^-_{po}, \\; d^\\pm \\ge 0

with ``f_e`` the experiment's data fit, ``c`` the balances and ``w_o = 1 / (P
std_o)`` (the slacks are measured in output standard deviations and averaged over
the ``P`` points); :attr:`SlackKind.QUADRATIC` replaces the l1 term by
``rho / 2 sum_{p,o} d_{po}^2 / (P std_o^2)`` with one free slack per row. Without a slack penalty (``rho = None``) the network equation
holds exactly and the inner problem is a simulation whose objective is the fit.

The gradient is exact by the envelope theorem: at the inner optimum,
``dV_e/dtheta = lambda^T dc_net/dtheta`` with ``lambda`` the multipliers of the
network equations (Ipopt's convention ``L = f + lambda^T c``), one
vector-Jacobian product of the network over the experiment's points. Nothing else
depends on ``theta``.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

import numpy as np
import pyomo.environ as pyo

import idaes.logger as idaeslog
from idaes.core.util.exceptions import InitializationError

from idaes_hybrid.solve.batched import BatchedNLP, build_batched_nlp, interior_point_backend
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.solve.solver import IPOPT_STATUS, SolveStatus
from idaes_hybrid.solve.values import set_named_values
from idaes_hybrid.model.experiment import DataError

_log = idaeslog.getLogger(__name__)

class SlackKind(str, enum.Enum):
    """Penalty of the slacks that relax the network equation."""

    #: ``rho * sum |d| / (P std)``: exact (slacks vanish) once ``rho`` exceeds the
    #: multipliers, but the outer loss has kinks (the paper's choice; Adam, L-BFGS).
    L1 = "l1"
    #: ``rho / 2 * sum (d / std)^2 / P``: smooth, so Newton's reduced Hessians hold.
    QUADRATIC = "quadratic"


#: Inner solver options (Ipopt names); tight, so that the envelope gradient is exact.
INNER_OPTIONS = {"tol": 1e-9, "max_iter": 300, "print_level": 0}


@dataclass(frozen=True, kw_only=True)
class InnerSolveOptions:
    """What every inner-problem spec shares: how the inner NLP is relaxed and solved.

    Attributes
    ----------
    scales
        Per-variable fit weights shared by all experiments.
    slack_penalty
        ``rho`` of the relaxation of the network equation; ``None``: exact.
    slack_kind
        ``L1`` or ``QUADRATIC`` penalty of the slacks.
    options
        Ipopt-style options of the inner solve.
    start
        Starting values by variable name (e.g. the smoother's solution) for the
        first solve; without them the model is marched with ``theta``.
    """

    scales: Mapping[str, float] | None = None
    slack_penalty: float | None = None
    slack_kind: SlackKind = SlackKind.QUADRATIC
    options: Mapping[str, Any] = field(default_factory=lambda: dict(INNER_OPTIONS))
    start: Mapping[str, float] | None = None

    @property
    def name(self) -> str:
        """The experiment's name (one inner problem per experiment)."""
        return self.experiment.name


class InnerSource(Protocol):
    """What :class:`InnerProblem` needs of a spec
    (:class:`~idaes_hybrid.decomposition.flowsheet_inner.FlowsheetInnerSpec` for any IDAES
    flowsheet, a one-unit model's too): picklable, with a ``network`` and the fields of
    :class:`InnerSolveOptions` (``scales``, ``slack_penalty``, ``slack_kind``, ``options``,
    ``start``)."""

    network: NetworkSpec
    slack_penalty: float | None
    slack_kind: SlackKind
    options: Mapping[str, Any]
    start: Mapping[str, float] | None

    @property
    def name(self) -> str: ...

    def build_model(self) -> tuple[pyo.ConcreteModel, Any]: ...

    def march(self, m: pyo.ConcreteModel, net: Any) -> None: ...

    def rmse(self, m: pyo.ConcreteModel) -> dict[str, float]: ...

    def time_variable(self, m: pyo.ConcreteModel, variable: str) -> tuple[Any, Any]: ...


@dataclass
class WarmPoint:
    """Primal and dual values of a previous inner solution (column order)."""

    x: np.ndarray
    lam: np.ndarray
    zl: np.ndarray
    zu: np.ndarray


@dataclass
class InnerResult:
    """The outcome of one inner solve.

    Attributes
    ----------
    value
        ``V_e(theta)``: data fit plus slack penalty at the optimum.
    data_fit, slack_l1
        The two parts of ``value`` (``slack_l1`` unweighted by ``rho``).
    gradient
        ``dV_e/dtheta`` (``None`` if the solve failed).
    hessian
        ``d2V_e/dtheta2`` by implicit differentiation of the inner KKT conditions,
        if asked for.
    rmse
        Per measured variable, if asked for.
    """

    name: str
    status: SolveStatus
    value: float
    data_fit: float
    slack_l1: float
    gradient: np.ndarray | None
    warm: WarmPoint | None
    iterations: int
    wall_time_s: float
    rmse: dict[str, float] | None = None
    hessian: np.ndarray | None = None

    @property
    def ok(self) -> bool:
        return self.status in (SolveStatus.OPTIMAL, SolveStatus.ACCEPTABLE)


class _Slacked:
    """A :class:`~idaes_hybrid.solve.batched.CompositeNLP` with slacks on the network
    rows. ``L1``: columns ``d+`` then ``d-`` (``>= 0``), penalized linearly;
    ``QUADRATIC``: one free column ``d`` per row, penalized by ``w d^2 / 2``."""

    def __init__(self, base, m_net: int, weights: np.ndarray, kind: "SlackKind"):
        self.base, self.m_net, self.w, self.l1 = base, m_net, weights, kind is SlackKind.L1
        self.nb, self.m_nl = base.n, base.m_nl
        self.n = self.nb + (2 if self.l1 else 1) * m_net
        jr, jc = base.jacobianstructure()
        k = np.arange(m_net)
        if self.l1:
            self._jr = np.concatenate([jr, self.m_nl + k, self.m_nl + k]).astype(np.int64)
            self._jc = np.concatenate([jc, self.nb + k, self.nb + m_net + k]).astype(np.int64)
            self._jv = np.concatenate([-np.ones(m_net), np.ones(m_net)])
        else:
            self._jr = np.concatenate([jr, self.m_nl + k]).astype(np.int64)
            self._jc = np.concatenate([jc, self.nb + k]).astype(np.int64)
            self._jv = -np.ones(m_net)
        hr, hc = base.hessianstructure()
        self._hr = np.asarray(hr) if self.l1 else np.concatenate([hr, self.nb + k]).astype(np.int64)
        self._hc = np.asarray(hc) if self.l1 else np.concatenate([hc, self.nb + k]).astype(np.int64)

    def slack(self, x):
        """Signed slack ``z - NN`` per network row."""
        d = x[self.nb:]
        return d[: self.m_net] - d[self.m_net:] if self.l1 else d

    def penalty(self, x):
        d = x[self.nb:]
        if self.l1:
            return float(self.w @ (d[: self.m_net] + d[self.m_net:]))
        return 0.5 * float(self.w @ (d * d))

    def objective(self, x):
        return self.base.objective(x[: self.nb]) + self.penalty(x)

    def gradient(self, x):
        g = self.base.gradient(x[: self.nb])
        return np.concatenate([g, self.w, self.w] if self.l1 else [g, self.w * x[self.nb:]])

    def constraints(self, x):
        c = np.array(self.base.constraints(x[: self.nb]), dtype=float)
        c[self.m_nl:] -= self.slack(x)
        return c

    def jacobianstructure(self):
        return self._jr, self._jc

    def jacobian(self, x):
        return np.concatenate([self.base.jacobian(x[: self.nb]), self._jv])

    def hessianstructure(self):
        return self._hr, self._hc

    def hessian(self, x, lagrange, obj_factor):
        h = self.base.hessian(x[: self.nb], lagrange, obj_factor)
        return h if self.l1 else np.concatenate([h, obj_factor * self.w])

    def intermediate(self, *args):
        return self.base.intermediate(*args)

    @property
    def iterations(self) -> int:
        return self.base.iterations


class InnerProblem:
    """One experiment's inner problem, built once and re-solved for new weights."""

    def __init__(self, spec: InnerSource):
        tick = time.perf_counter()
        self.spec = spec
        m, self.net = spec.build_model()
        m.objective = pyo.Objective(expr=m.data_fit)
        self.net.fix_weights()
        self.model = m
        if spec.start:
            set_named_values(m, spec.start)
        self._initialized = bool(spec.start)
        self.bn: BatchedNLP = build_batched_nlp(m, self.net, logger_every=0)
        netp = self.bn.net.only
        self.m_nl, self.m_net = self.bn.problem.m_nl, netp.n_points * netp.n_out
        self.rho = spec.slack_penalty
        if self.rho is not None:
            sz = np.asarray(netp.sz, dtype=float)
            per = 1.0 / sz if spec.slack_kind is SlackKind.L1 else 1.0 / sz**2
            self._unit_w = np.tile(per / netp.n_points, netp.n_points)
            self.problem = _Slacked(self.bn.problem, self.m_net, float(self.rho) * self._unit_w, spec.slack_kind)
        else:
            self.problem = self.bn.problem
        self.build_time_s = time.perf_counter() - tick
        _log.debug(f"inner problem {spec.name}: {self.problem.n} variables, built in {self.build_time_s:.1f} s")

    def restart_from(self, values: Mapping[str, float]) -> None:
        """Start the next cold solve from ``values`` (named as ``start``) instead of a march:
        the problem, built once, re-used at another solution of the training model."""
        set_named_values(self.model, values)
        self._initialized = True

    def lift_bounds(self) -> int:
        """Drop the variables' bounds from the NLP (a square simulation whose discretized
        trajectory leaves a bound the true one only touches, e.g. a substrate depleted within
        one element); how many columns had one."""
        bounded = int(np.count_nonzero((self.bn.lb > -1e19) | (self.bn.ub < 1e19)))
        self.bn.lb = np.full_like(self.bn.lb, -1e19)
        self.bn.ub = np.full_like(self.bn.ub, 1e19)
        return bounded

    @property
    def n(self) -> int:
        """Number of columns of the inner NLP (with slacks)."""
        return self.problem.n

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Variable bounds with the slack columns'."""
        lb, ub = self.bn.lb, self.bn.ub
        k = self.problem.n - len(lb)
        if k:
            low = 0.0 if self.problem.l1 else -1e19
            lb, ub = np.concatenate([lb, np.full(k, low)]), np.concatenate([ub, np.full(k, 1e19)])
        return lb, ub

    def _cold_start(self, theta: np.ndarray, march: bool = False) -> np.ndarray:
        """Starting point: given values (``start``, first time only) or a march with ``theta``."""
        net = self.net
        if march or not self._initialized:
            trial = NetworkSpec.from_dict(self.spec.network.to_dict())
            trial.set_flat_parameters(theta)
            net.load_spec(trial)
            try:
                self.spec.march(self.model, net)
            except (InitializationError, DataError) as err:  # the NLP may still solve (slacks)
                _log.debug(f"inner {self.spec.name}: march failed ({err}); solving from "
                           "the values it reached")
            self._initialized = True
        x = np.array([pyo.value(v) if v.value is not None else 0.0 for v in self.bn.variables])
        if self.rho is None:
            return x
        r = self.bn.net.only.residuals(x)  # start the slacks at the network residual
        if self.problem.l1:
            return np.concatenate([x, np.maximum(r, 0.0) + 1e-6, np.maximum(-r, 0.0) + 1e-6])
        return np.concatenate([x, r])

    def set_slack_penalty(self, rho: float) -> None:
        """Change ``rho`` (penalty continuation); only for a problem built with slacks."""
        if self.rho is None:
            raise ValueError("slack_penalty: this inner problem was built without slacks")
        self.rho = float(rho)
        self.problem.w = self.rho * self._unit_w

    def solve(self, theta: np.ndarray, warm: WarmPoint | None = None, gradient: bool = True,
              want_rmse: bool = False, hessian: bool = False, _march: bool = False) -> InnerResult:
        """Solve for weights ``theta`` from ``warm``; if that fails (or without one),
        from the given start, then from a march of the unit's Initializer with ``theta``."""
        tick = time.perf_counter()
        theta = np.asarray(theta, dtype=float)
        self.bn.net.only.theta_const = theta
        problem_class, _, defaults = interior_point_backend()
        n, m = self.problem.n, len(self.bn.cl)
        lb, ub = self._bounds()
        problem = problem_class(n=n, m=m, problem_obj=self.problem, lb=lb, ub=ub, cl=self.bn.cl, cu=self.bn.cu)
        opts = {**defaults, **INNER_OPTIONS, **dict(self.spec.options)}
        use_warm = warm is not None and len(warm.x) == n and len(warm.lam) == m
        if use_warm:
            opts.update({"warm_start_init_point": "yes", "mu_init": 1e-6, "warm_start_bound_push": 1e-9,
                         "warm_start_mult_bound_push": 1e-9, "warm_start_slack_bound_push": 1e-9})
        for key, val in opts.items():
            problem.add_option(key, val)
        if use_warm:
            x, info = problem.solve(warm.x, lagrange=warm.lam, zl=warm.zl, zu=warm.zu)
        else:
            x, info = problem.solve(self._cold_start(theta, march=_march))
        status = IPOPT_STATUS.get(int(info["status"]), SolveStatus.FAILED)
        if status not in (SolveStatus.OPTIMAL, SolveStatus.ACCEPTABLE) and not _march:
            _log.debug(f"inner {self.spec.name}: {'warm' if use_warm else 'cold'} start failed "
                       f"({status.name}); {'cold start' if use_warm else 'march'}")
            return self.solve(theta, None, gradient, want_rmse, hessian, _march=not use_warm)
        x = np.asarray(x, dtype=float)
        ok = status in (SolveStatus.OPTIMAL, SolveStatus.ACCEPTABLE)
        base_x = x[: self.bn.problem.n]
        data_fit = float(self.bn.problem.objective(base_x))
        slack = float(np.abs(self.problem.slack(x)).sum()) if self.rho is not None else 0.0
        lam = np.asarray(info["mult_g"], dtype=float)
        grad = self._envelope_gradient(base_x, theta, lam[self.m_nl:]) if ok and gradient else None
        zl, zu = np.asarray(info["mult_x_L"], dtype=float), np.asarray(info["mult_x_U"], dtype=float)
        hess = self._reduced_hessian(x, theta, lam, zl, zu) if ok and hessian else None
        rmse = None
        if want_rmse and ok:
            self.bn.load(base_x)
            rmse = self.spec.rmse(self.model)
        return InnerResult(
            name=self.spec.name, status=status, value=float(info["obj_val"]), data_fit=data_fit,
            slack_l1=slack, gradient=grad,
            warm=WarmPoint(x, lam, zl, zu) if ok else None, hessian=hess,
            iterations=int(self.problem.iterations), wall_time_s=time.perf_counter() - tick, rmse=rmse)

    def simulate(self, theta: np.ndarray, warm: WarmPoint | None = None, gradient: bool = True,
                 want_rmse: bool = False, hessian: bool = False) -> InnerResult:
        """:meth:`solve`; a square problem (no slacks) that ends infeasible within the
        variables' bounds is solved once more with them lifted (:meth:`lift_bounds`), as
        ``predict``'s simulation is: a discretized trajectory may undershoot a bound that
        the true one only touches (a substrate used up within one element)."""
        res = self.solve(theta, warm, gradient, want_rmse, hessian)
        if res.status is SolveStatus.INFEASIBLE and self.rho is None:
            lifted = self.lift_bounds()
            if lifted:
                _log.info(f"inner {self.spec.name}: no solution within the variables' bounds; "
                          f"solved again with {lifted} bounds lifted")
                res = self.solve(theta, None, gradient, want_rmse, hessian)
        return res

    def _envelope_gradient(self, x: np.ndarray, theta: np.ndarray, lam_net: np.ndarray) -> np.ndarray:
        """``lambda^T dc_net/dtheta`` with ``c_net = z - mean_z - std_z NN(.; theta)``."""
        netp = self.bn.net.only
        v, _, _ = netp._gather(x)
        d_theta, _ = netp.bnet.jacobian(theta, (v - netp.mv) / netp.sv)
        c = lam_net.reshape(netp.n_points, netp.n_out) * np.asarray(netp.sz)[None, :]
        return -np.einsum("po,pot->t", c, d_theta)

    def kkt_system(self, x: np.ndarray, theta: np.ndarray, lam: np.ndarray, zl: np.ndarray,
                   zu: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray]:
        """The inner KKT matrix at a solution and its derivative with respect to ``theta``.

        Parameters
        ----------
        x, lam, zl, zu
            Primal point (with slack columns), constraint and bound multipliers.
        theta
            The network's flat weights.

        Returns
        -------
        tuple
            ``K`` (sparse, CSC: Hessian of the Lagrangian plus the bound terms
            ``z / (x - bound)``, and the Jacobian), ``R = d(grad L, c)/dtheta``
            (dense, ``(n + m) x T``) and ``L_tt`` (the Lagrangian's Hessian in
            ``theta``), so that ``d(x, lambda)/dtheta = -K^-1 R``.
        """
        import scipy.sparse as sp

        n, m = self.problem.n, len(self.bn.cl)
        hr, hc = self.problem.hessianstructure()
        w = sp.coo_matrix((self.problem.hessian(x, lam, 1.0), (hr, hc)), shape=(n, n)).tocsr()
        w = w + w.T - sp.diags(w.diagonal())
        lb, ub = self._bounds()
        sigma = np.zeros(n)
        fl, fu = lb > -1e19, ub < 1e19
        sigma[fl] += zl[fl] / np.maximum(x[fl] - lb[fl], 1e-300)
        sigma[fu] += zu[fu] / np.maximum(ub[fu] - x[fu], 1e-300)
        jr, jc = self.problem.jacobianstructure()
        jac = sp.coo_matrix((self.problem.jacobian(x), (jr, jc)), shape=(m, n)).tocsr()
        kkt = sp.bmat([[w + sp.diags(sigma), jac.T], [jac, None]], format="csc")
        # mixed derivatives: network rows depend on theta; their inputs' gradients too
        netp = self.bn.net.only
        base_x = x[: self.bn.problem.n]
        v, _, _ = netp._gather(base_x)
        u = (v - netp.mv) / netp.sv
        sz = np.asarray(netp.sz)
        c = -(lam[self.m_nl:].reshape(netp.n_points, netp.n_out) * sz[None, :])
        h_tt, h_ut, _ = netp.bnet.weighted_hessian(theta, u, c)
        d_theta, _ = netp.bnet.jacobian(theta, u)
        T = len(theta)
        rhs = np.zeros((n + m, T))
        h_vt = h_ut / netp.sv[None, :, None]
        mask = netp.in_cols >= 0
        np.add.at(rhs, netp.in_cols[mask], h_vt[mask])
        rhs[n + self.m_nl:] = -(sz[None, :, None] * d_theta).reshape(-1, T)
        return kkt, rhs, h_tt

    def state_sensitivity(self, result: InnerResult, theta: np.ndarray) -> np.ndarray:
        """``dx/dtheta`` of the inner solution (implicit differentiation of its KKT system).

        Parameters
        ----------
        result
            A successful :meth:`solve` at ``theta`` (its ``warm`` point is used).
        theta
            The network's flat weights.

        Returns
        -------
        numpy.ndarray
            ``(n_columns, T)``: one row per column of :attr:`variables` (slacks
            excluded). For an exact simulation (square system, no slacks) this is
            ``-J^-1 dc/dtheta``, the sensitivity of the simulated trajectory.
        """
        from scipy.sparse.linalg import splu

        if result.warm is None:
            raise ValueError(f"inner {self.spec.name}: no solution to differentiate")
        w = result.warm
        kkt, rhs, _ = self.kkt_system(w.x, np.asarray(theta, dtype=float), w.lam, w.zl, w.zu)
        lu = splu(kkt)
        cols = np.flatnonzero(np.any(rhs != 0.0, axis=0))
        out = np.zeros((self.bn.problem.n, rhs.shape[1]))
        for j in cols:
            out[:, j] = -lu.solve(rhs[:, j])[: self.bn.problem.n]
        return out

    @property
    def variables(self) -> list:
        """The Pyomo variables in column order (of :meth:`state_sensitivity`'s rows)."""
        return self.bn.variables

    def _reduced_hessian(self, x: np.ndarray, theta: np.ndarray, lam: np.ndarray, zl: np.ndarray,
                         zu: np.ndarray) -> np.ndarray:
        """``d2V/dtheta2 = L_tt - L_tw K^-1 L_wt`` (implicit differentiation).

        ``K`` is the inner KKT matrix at the solution (Hessian of the Lagrangian
        plus the bound terms ``z / (x - bound)``, Jacobian), ``L_wt`` stacks the
        mixed second derivatives of the Lagrangian and ``dc/dtheta``.
        """
        from scipy.sparse.linalg import splu

        n, m = self.problem.n, len(self.bn.cl)
        kkt, rhs, h_tt = self.kkt_system(x, theta, lam, zl, zu)
        # Only rows S of the right-hand side are nonzero: H = h_tt - R_S^T (K^-1)_SS R_S,
        # with one sparse solve per row of S (SuperLU's multi-column solve is much slower)
        rows = np.flatnonzero(np.any(rhs != 0.0, axis=1))
        lu = splu(kkt)
        unit = np.zeros(n + m)
        k_ss = np.empty((len(rows), len(rows)))
        for i, r in enumerate(rows):
            unit[r] = 1.0
            k_ss[:, i] = lu.solve(unit)[rows]
            unit[r] = 0.0
        r_s = rhs[rows]
        h = h_tt - r_s.T @ (k_ss @ r_s)
        return 0.5 * (h + h.T)

"""Solve a model whose network is evaluated in batches (the callback path).

The NLP solver sees the same problem as with the network written into the
``.nl`` file, but the network equations ``z = mean_z + std_z * NN((v - mean_v) /
std_v; theta)`` at all points are evaluated together with numpy
(:class:`~idaes_hybrid.nn.batched.BatchedNetwork`), with exact first and second
derivatives, while everything else (balances, data fit, bounds) is written to
``.nl`` and evaluated by POUNCE's reader. The result is loaded back into the
Pyomo model, so callers cannot tell the paths apart except by speed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pyomo.environ as pyo

import idaes.logger as idaeslog

from idaes_hybrid.nn.batched import BatchedNetwork
from idaes_hybrid.nn.block import as_networks
from idaes_hybrid.solve.magnitude_scaling import magnitude_scaling as scale_by_magnitude
from idaes_hybrid.solve.magnitude_scaling import round_off_scaling
from idaes_hybrid.solve.feasible_iterates import FeasibleIterates, violation as constraint_violation
from idaes_hybrid.solve.solver import IPOPT_STATUS, SolveResult, SolveStatus

_log = idaeslog.getLogger(__name__)


#: ``hessian_approximation`` value of the block-diagonal network Hessian: given to the
#: batched path, which passes ``exact`` to the solver and leaves out the network's
#: weight-input coupling (see :class:`NetworkPart`).
BLOCK_DIAGONAL = "block-diagonal"


class NetworkPart:
    """Index bookkeeping and evaluation of the network equations.

    ``coupled=False`` leaves the weight-input block out of the Hessian: the network's
    second derivatives stay exact within the weights and within each point's inputs, and
    the points' inputs no longer couple with every weight in the KKT matrix (a much
    sparser factorization; the solution is the same, the steps are approximate Newton).
    """

    def __init__(self, net, col_of, n_cols, coupled: bool = True):
        self.coupled = coupled
        self.spec = net.to_spec()
        self.bnet = BatchedNetwork(self.spec)
        self.theta_vars = list(net.parameter_vars_flat())
        io = net.point_io()
        self.n_points, self.n_in, self.n_out = len(io), self.spec.n_inputs, self.spec.n_outputs
        self.theta_fixed = all(v.fixed for v in self.theta_vars)
        self.theta_cols = None if self.theta_fixed else np.array([col_of[id(v)] for v in self.theta_vars])
        # input/output columns; -1 marks a fixed variable (a constant)
        self.in_cols = np.array([[col_of.get(id(v), -1) if not v.fixed else -1 for v in vin] for vin, _ in io])
        self.out_cols = np.array([[col_of.get(id(v), -1) if not v.fixed else -1 for v in vout] for _, vout in io])
        self.in_const = np.array([[pyo.value(v) for v in vin] for vin, _ in io])
        self.out_const = np.array([[pyo.value(v) for v in vout] for _, vout in io])
        self.theta_const = self.spec.flat_parameters()
        self.mv, self.sv = self.spec.input_mean, self.spec.input_std
        self.mz, self.sz = self.spec.output_mean, self.spec.output_std
        self.n_cols = n_cols
        self._jac_structure()
        self._hess_structure()
        self.eval_time = 0.0

    def _gather(self, x):
        v = np.where(self.in_cols >= 0, x[np.maximum(self.in_cols, 0)], self.in_const)
        z = np.where(self.out_cols >= 0, x[np.maximum(self.out_cols, 0)], self.out_const)
        theta = self.theta_const if self.theta_fixed else x[self.theta_cols]
        return v, z, theta

    def residuals(self, x):
        v, z, theta = self._gather(x)
        y = self.bnet.forward(theta, (v - self.mv) / self.sv)
        return (z - (self.mz + self.sz * y)).ravel()

    def _jac_structure(self):
        rows, cols = [], []
        P, I, O = self.n_points, self.n_in, self.n_out
        row = np.arange(P * O).reshape(P, O)
        self._jz_mask = self.out_cols >= 0
        rows.append(row[self._jz_mask]); cols.append(self.out_cols[self._jz_mask])
        in_rows = np.broadcast_to(row[:, :, None], (P, O, I))
        in_cols = np.broadcast_to(self.in_cols[:, None, :], (P, O, I))
        self._jv_mask = in_cols >= 0
        rows.append(in_rows[self._jv_mask]); cols.append(in_cols[self._jv_mask])
        if not self.theta_fixed:
            T = len(self.theta_cols)
            rows.append(np.repeat(row.ravel(), T)); cols.append(np.tile(self.theta_cols, P * O))
        self.jac_rows, self.jac_cols = np.concatenate(rows), np.concatenate(cols)

    def jacobian(self, x):
        v, z, theta = self._gather(x)
        d_theta, d_u = self.bnet.jacobian(theta, (v - self.mv) / self.sv)
        parts = [np.ones(int(self._jz_mask.sum()))]
        d_v = -(self.sz[None, :, None] * d_u / self.sv[None, None, :])
        parts.append(d_v[self._jv_mask])
        if not self.theta_fixed:
            parts.append((-(self.sz[None, :, None] * d_theta)).ravel())
        return np.concatenate(parts)

    def _hess_structure(self):
        rows, cols = [], []
        P, I = self.n_points, self.n_in
        if not self.theta_fixed:
            tr, tc = np.tril_indices(len(self.theta_cols))
            a, b = self.theta_cols[tr], self.theta_cols[tc]
            rows.append(np.maximum(a, b)); cols.append(np.minimum(a, b))
            self._tt = (tr, tc)
        if not self.theta_fixed and self.coupled:
            vc = np.broadcast_to(self.in_cols[:, :, None], (P, I, len(self.theta_cols)))
            tcn = np.broadcast_to(self.theta_cols[None, None, :], (P, I, len(self.theta_cols)))
            self._vt_mask = vc >= 0
            rows.append(np.maximum(vc, tcn)[self._vt_mask]); cols.append(np.minimum(vc, tcn)[self._vt_mask])
        ir, ic = np.tril_indices(I)
        a, b = self.in_cols[:, ir], self.in_cols[:, ic]
        self._vv = (ir, ic)
        self._vv_mask = (a >= 0) & (b >= 0)
        rows.append(np.maximum(a, b)[self._vv_mask]); cols.append(np.minimum(a, b)[self._vv_mask])
        self.hess_rows, self.hess_cols = np.concatenate(rows), np.concatenate(cols)

    def hessian(self, x, lam):
        v, z, theta = self._gather(x)
        c = -(lam.reshape(self.n_points, self.n_out) * self.sz[None, :])
        parts = []
        if self.theta_fixed:
            h_uu = self.bnet.input_hessian(theta, (v - self.mv) / self.sv, c)
        else:
            # block-diagonal steps: the weight block from its upper layer blocks (half the work)
            h_tt, h_ut, h_uu = self.bnet.weighted_hessian(theta, (v - self.mv) / self.sv, c,
                                                          mixed=self.coupled, upper_only=not self.coupled)
            parts.append(h_tt[self._tt])
            if self.coupled:
                parts.append((h_ut / self.sv[None, :, None])[self._vt_mask])
        h_vv = h_uu / np.outer(self.sv, self.sv)[None]
        ir, ic = self._vv
        parts.append(h_vv[:, ir, ic][self._vv_mask])
        return np.concatenate(parts)


class NetworkParts:
    """The point equations of several networks (one per learned term) as one row block.

    Rows are each network's ``points x outputs`` in turn; columns are shared. Exposes
    the interface of one :class:`NetworkPart` that the callback problem uses.
    """

    def __init__(self, nets, col_of, n_cols, coupled: bool = True):
        self.parts = [NetworkPart(net, col_of, n_cols, coupled) for net in as_networks(nets)]
        sizes = [p.n_points * p.n_out for p in self.parts]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.n_rows = int(self.offsets[-1])
        self.jac_rows = np.concatenate([p.jac_rows + o for p, o in zip(self.parts, self.offsets)]
                                       or [np.zeros(0, np.int64)])
        self.jac_cols = np.concatenate([p.jac_cols for p in self.parts] or [np.zeros(0, np.int64)])
        self.hess_rows = np.concatenate([p.hess_rows for p in self.parts] or [np.zeros(0, np.int64)])
        self.hess_cols = np.concatenate([p.hess_cols for p in self.parts] or [np.zeros(0, np.int64)])
        #: output column of every row (-1: a fixed output)
        self.row_out_cols = np.concatenate([p.out_cols.ravel() for p in self.parts]
                                           or [np.zeros(0, np.int64)])
        #: the output's normalization std of every row: the spread its equation is measured in
        self.row_output_std = np.concatenate([np.tile(np.asarray(p.sz, float), p.n_points)
                                              for p in self.parts] or [np.zeros(0)])
        self._blocks = [b for net in as_networks(nets) for b, _, _ in net.point_items()]

    @property
    def only(self) -> NetworkPart:
        """The one network's part (the decomposition trains one network)."""
        if len(self.parts) != 1:
            raise ValueError(f"expected one network, got {len(self.parts)}")
        return self.parts[0]

    @property
    def eval_time(self) -> float:
        """Seconds spent in the networks' Hessians."""
        return sum(p.eval_time for p in self.parts)

    def row_constraint(self, row: int):
        """The Pyomo ``output_eq[o]`` of a row."""
        k = int(np.searchsorted(self.offsets, row, side="right")) - 1
        local, base = row - self.offsets[k], sum(p.n_points for p in self.parts[:k])
        n_out = self.parts[k].n_out
        return self._blocks[base + int(local) // n_out].output_eq[int(local) % n_out]

    def residuals(self, x):
        return np.concatenate([p.residuals(x) for p in self.parts] or [np.zeros(0)])

    def jacobian(self, x):
        return np.concatenate([p.jacobian(x) for p in self.parts] or [np.zeros(0)])

    def hessian(self, x, lam):
        out = []
        for p, a, b in zip(self.parts, self.offsets[:-1], self.offsets[1:]):
            tick = time.perf_counter()
            out.append(p.hessian(x, lam[a:b]))
            p.eval_time += time.perf_counter() - tick
        return np.concatenate(out or [np.zeros(0)])


class CompositeNLP:
    """cyipopt-style problem: the ``.nl`` part plus the batched network part."""

    def __init__(self, nl, netp: NetworkParts, n_extra: int, logger_every: int = 10):
        self.nl, self.net = nl, netp
        self.n_nl, self.m_nl = nl.n, nl.m
        self.n = self.n_nl + n_extra
        jr, jc = nl.jacobian_structure()
        hr, hc = nl.hessian_structure()
        self._jr = np.concatenate([np.asarray(jr), self.m_nl + netp.jac_rows]).astype(np.int64)
        self._jc = np.concatenate([np.asarray(jc), netp.jac_cols]).astype(np.int64)
        self._hr = np.concatenate([np.asarray(hr), netp.hess_rows]).astype(np.int64)
        self._hc = np.concatenate([np.asarray(hc), netp.hess_cols]).astype(np.int64)
        self.iterations = 0
        self.every = logger_every
        #: the best feasible iterate, for a solve stopped at a limit (set by the solve)
        self.feasible: FeasibleIterates | None = None

    def _x(self, x):
        return np.asarray(x[: self.n_nl], dtype=float)

    def objective(self, x):
        return self.nl.objective(self._x(x))

    def gradient(self, x):
        g = np.zeros(self.n)
        g[: self.n_nl] = self.nl.gradient(self._x(x))
        return g

    def constraints(self, x):
        return np.concatenate([np.asarray(self.nl.constraints(self._x(x))), self.net.residuals(np.asarray(x))])

    def jacobianstructure(self):
        return self._jr, self._jc

    def jacobian(self, x):
        return np.concatenate([np.asarray(self.nl.jacobian(self._x(x))), self.net.jacobian(np.asarray(x))])

    def hessianstructure(self):
        return self._hr, self._hc

    def hessian(self, x, lagrange, obj_factor):
        lam = np.asarray(lagrange)
        h_net = self.net.hessian(np.asarray(x), lam[self.m_nl:])
        h_nl = np.asarray(self.nl.hessian(self._x(x), lam[: self.m_nl], obj_factor))
        return np.concatenate([h_nl, h_net])

    def intermediate(self, alg_mod, iter_count, obj_value, inf_pr, inf_du, mu, d_norm,
                     regularization_size, alpha_du, alpha_pr, ls_trials):
        self.iterations = int(iter_count)
        if self.feasible is not None and alg_mod == 0:  # restoration reports its own objective
            self.feasible.record(iter_count, obj_value)
        if self.every > 0 and iter_count % self.every == 0:
            _log.info(f"  iter {iter_count:4d}  objective {obj_value:.6e}  inf_pr {inf_pr:.2e}  "
                      f"inf_du {inf_du:.2e}")
        return True


def interior_point_backend():
    """The callback-driven interior-point solver: real Ipopt + MUMPS from
    ``cyipopt-wheels`` when installed (much faster factorizations; called through its C
    interface, :func:`~idaes_hybrid.solve.ipopt_c.ipopt_problem_class`), else POUNCE."""
    from idaes_hybrid.solve.ipopt_c import ipopt_problem_class

    try:
        return ipopt_problem_class(), "ipopt-mumps", {"sb": "yes"}
    except ImportError:
        import pounce

        return pounce.Problem, "pounce", {}


@dataclass
class BatchedNLP:
    """A model written for the callback path: the ``.nl`` part, the network part,
    the problem object an interior-point solver calls and its bounds and start.

    ``variables`` are the Pyomo variables in column order (the ``.nl`` columns,
    then network inputs/outputs that only the network equations use).
    """

    nl: Any
    net: NetworkParts
    problem: CompositeNLP
    variables: list
    constraints: list
    lb: np.ndarray
    ub: np.ndarray
    cl: np.ndarray
    cu: np.ndarray
    x0: np.ndarray
    build_time_s: float

    def load(self, x: np.ndarray) -> None:
        """Set the Pyomo variables to the values of column vector ``x``."""
        for v, val in zip(self.variables, x):
            v.set_value(float(val), skip_validation=True)


def build_batched_nlp(model: pyo.Block, net, logger_every: int = 10,
                      coupled: bool = True) -> BatchedNLP:
    """Write ``model`` minus the point equations of ``net`` (one network block or a
    list) to ``.nl`` and pair it with the batched evaluation of those equations.

    The point blocks are deactivated only while the ``.nl`` file is written.
    ``coupled=False``: the block-diagonal network Hessian (:class:`NetworkPart`).
    """
    from idaes_hybrid.solve.nl_solve import read_model_nl

    start = time.perf_counter()
    nets = as_networks(net)
    active = [b for n in nets for b in n.point_blocks()]
    states = [{k: v.active for k, v in b.items()} for b in active]
    for b in active:
        b.deactivate()
    try:
        nl, info = read_model_nl(model)
    finally:
        for b, st in zip(active, states):
            for k, on in st.items():
                if on:
                    b[k].activate()
    col_of = {id(v): i for i, v in enumerate(info.variables)}
    extras = []
    for n in nets:
        for v in list(n.parameter_vars_flat()) + [x for io in n.point_io() for side in io for x in side]:
            if not v.fixed and id(v) not in col_of:
                col_of[id(v)] = len(info.variables) + len(extras)
                extras.append(v)
    netp = NetworkParts(nets, col_of, len(info.variables) + len(extras), coupled)
    prob_obj = CompositeNLP(nl, netp, len(extras), logger_every=logger_every)
    lb = np.concatenate([np.asarray(nl.x_l), [v.lb if v.lb is not None else -1e19 for v in extras]])
    ub = np.concatenate([np.asarray(nl.x_u), [v.ub if v.ub is not None else 1e19 for v in extras]])
    m_net = netp.n_rows
    cl = np.concatenate([np.asarray(nl.g_l), np.zeros(m_net)])
    cu = np.concatenate([np.asarray(nl.g_u), np.zeros(m_net)])
    x0 = np.concatenate([[pyo.value(v) if v.value is not None else 0.0 for v in info.variables],
                         [pyo.value(v) if v.value is not None else 0.0 for v in extras]])
    return BatchedNLP(nl, netp, prob_obj, [*info.variables, *extras], list(info.constraints),
                      lb, ub, cl, cu, x0, time.perf_counter() - start)


def solve_batched(model: pyo.Block, net, options: dict | None = None, tee: bool = False,
                  user_scaling: bool = False, magnitude_scaling: bool = False) -> SolveResult:
    """Solve ``model`` with ``net``'s points evaluated in batches; load the solution.

    Parameters
    ----------
    model
        The model (one active objective); ``net``'s point constraints are replaced by
        the batched evaluation for the duration of the solve.
    net
        The :class:`~idaes_hybrid.nn.block.NeuralNetworkBlock` evaluated at its points,
        or a list of them (one per learned term).
    options
        Ipopt-style options; ``hessian_approximation = "block-diagonal"``
        (:data:`BLOCK_DIAGONAL`) asks for the exact Hessian without the network's
        weight-input coupling.
    tee
        Print the solver's iteration log.
    user_scaling
        Give Ipopt the model's IDAES scaling factors (``scaling_factor`` suffixes, 1 where
        unset) with ``nlp_scaling_method = user-scaling``.
    magnitude_scaling
        Scale every variable by the magnitude of its starting value instead
        (:func:`~idaes_hybrid.solve.magnitude_scaling.magnitude_scaling`): Ipopt's stopping
        test then holds for decisions of any size (optimizations). Neither: Ipopt's own
        rule, rows whose terms are too large for ``tol`` scaled down
        (:func:`~idaes_hybrid.solve.magnitude_scaling.round_off_scaling`).
    """
    if user_scaling and magnitude_scaling:
        raise ValueError("solve_batched: choose user_scaling or magnitude_scaling, not both")
    problem_class, backend, backend_defaults = interior_point_backend()
    options = dict(options or {})
    coupled = options.get("hessian_approximation") != BLOCK_DIAGONAL
    if not coupled:
        options["hessian_approximation"] = "exact"
    start = time.perf_counter()
    bn = build_batched_nlp(model, net, logger_every=1 if tee else 10, coupled=coupled)
    netp, prob_obj = bn.net, bn.problem
    problem = problem_class(n=len(bn.x0), m=len(bn.cl), problem_obj=prob_obj, lb=bn.lb, ub=bn.ub,
                            cl=bn.cl, cu=bn.cu)
    opts = {"print_level": 5 if tee else 0, **backend_defaults, **options}
    _set_scaling(problem, bn, opts, user_scaling, magnitude_scaling)
    for key, val in opts.items():
        problem.add_option(key, val)
    prob_obj.feasible = FeasibleIterates(bn.cl, bn.cu)
    prob_obj.feasible.attach(problem)
    build_time = time.perf_counter() - start
    x, sol = problem.solve(bn.x0)
    wall = time.perf_counter() - start
    status = IPOPT_STATUS.get(int(sol["status"]), SolveStatus.FAILED)
    x, violation = _returned_point(x, sol, status, bn)
    load = status in (SolveStatus.OPTIMAL, SolveStatus.ACCEPTABLE, SolveStatus.MAX_ITERATIONS)
    if load:
        bn.load(x)
    objs = list(model.component_data_objects(pyo.Objective, active=True))
    msg = sol.get("status_msg", b"")
    msg = msg.decode() if isinstance(msg, bytes) else str(msg)
    _log.info(f"batched solve ({backend}): {status.name} after {prob_obj.iterations} iterations in {wall:.1f} s "
              f"(setup {build_time:.1f} s, network Hessians {netp.eval_time:.1f} s)")
    best = prob_obj.feasible.best if status is SolveStatus.FAILED else None
    return SolveResult(status, msg, prob_obj.iterations, wall,
                       float(pyo.value(objs[0])) if load and objs else None, f"{backend}-batched", "",
                       solver_time_s=wall - build_time, solution_loaded=load,
                       load_last_point=None if load else (lambda: bn.load(x)), constraint_violation=violation,
                       load_best_feasible=None if best is None else (lambda: bn.load(best[1])))


def _set_scaling(problem, bn: BatchedNLP, opts: dict, user_scaling: bool, magnitude_scaling: bool) -> None:
    """Give ``problem`` the scaling :func:`solve_batched` describes (``opts`` updated)."""
    if user_scaling:
        rows = [bn.net.row_constraint(r) for r in range(bn.net.n_rows)]
        x_scale, g_scale = scaling_vectors(bn.variables, [*bn.constraints, *rows])
        problem.set_problem_scaling(1.0, x_scale, g_scale)
        opts["nlp_scaling_method"] = "user-scaling"
    elif magnitude_scaling:
        obj_scale, x_scale, g_scale = scale_by_magnitude(bn.problem, bn.x0, len(bn.cl))
        problem.set_problem_scaling(obj_scale, *in_output_units(bn, x_scale, g_scale))
        opts["nlp_scaling_method"] = "user-scaling"
    elif "nlp_scaling_method" not in opts:  # rows too large for tol scaled down (round-off)
        capped = round_off_scaling(bn.problem, bn.x0, len(bn.cl), float(opts.get("tol", 1e-8)))
        if capped is not None:
            problem.set_problem_scaling(*capped)
            opts["nlp_scaling_method"] = "user-scaling"


#: A network output whose spread (``output_std``) is below this is scaled in its own units
#: (:func:`in_output_units`); magnitude scaling leaves every value below 1 at unit scale.
OUTPUT_UNITS_BELOW = 1e-2


def in_output_units(bn: BatchedNLP, x_scale: np.ndarray, g_scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x_scale, g_scale)`` with the network equations and output variables of every output
    whose spread is below :data:`OUTPUT_UNITS_BELOW` scaled by ``1 / output_std`` (the
    spread in the training data, the network's own output normalization), the rest unchanged.

    Scaled by magnitude alone, the equations of a small learned quantity (a rate constant
    of 1e-6 m^3/mol/s, spread 6e-7) kept their absolute units: a 30 % mismatch between the
    variable and the network counted as feasible to Ipopt's tolerance and the weights entered
    with coefficients of 1e-7, and a two-CSTR training crawled (266 iterations with steps cut
    to 1/16-1/4096; 16 in its own units). Outputs of order 0.1-1 keep magnitude scaling (their
    solves were checked with it; scaled so, a tank-manifold update ended at another optimum).
    """
    std = np.asarray(bn.net.row_output_std, float)
    ok = np.isfinite(std) & (std > 0) & (std < OUTPUT_UNITS_BELOW)
    rows = len(bn.cl) - bn.net.n_rows + np.arange(bn.net.n_rows)
    g_scale, x_scale = np.array(g_scale, float), np.array(x_scale, float)
    g_scale[rows[ok]] = 1.0 / std[ok]
    cols = np.asarray(bn.net.row_out_cols)
    mask = ok & (cols >= 0)
    x_scale[cols[mask]] = 1.0 / std[mask]
    return x_scale, g_scale


def _returned_point(x: np.ndarray, sol: dict, status: SolveStatus, bn: BatchedNLP) -> tuple[np.ndarray, float]:
    """The point a solve returns and its constraint violation: the solver's last iterate,
    or, if a limit stopped the solve at an infeasible one, the best feasible iterate seen
    (:class:`~idaes_hybrid.solve.feasible_iterates.FeasibleIterates`)."""
    g = np.asarray(sol["g"] if "g" in sol else bn.problem.constraints(x), dtype=float)
    violation = constraint_violation(g, bn.cl, bn.cu)
    tracked = bn.problem.feasible
    if status is SolveStatus.MAX_ITERATIONS and tracked is not None and tracked.best is not None \
            and violation > tracked.tol:
        _, best, iteration, best_violation = tracked.best
        _log.info(f"batched solve: stopped at a limit at an infeasible point (violation {violation:.2g}); "
                  f"returning the best feasible iterate, of iteration {iteration} "
                  f"(violation {best_violation:.2g})")
        return best, best_violation
    return x, violation


def solve_hybrid(model: pyo.Block, net, options: dict | None = None, tee: bool = False,
                 user_scaling: bool = False, magnitude_scaling: bool = False) -> SolveResult:
    """Solve ``model`` the way ``net``'s formulation asks.

    ``Formulation.BATCHED`` with active network points goes through
    :func:`solve_batched`; everything else through the ``.nl`` solver of
    :func:`idaes_hybrid.solve.solver.get_nlp_solver`. ``user_scaling`` gives the batched
    solve the model's IDAES scaling factors; the ``.nl`` path always writes a model
    with ``scaling_factor`` suffixes in scaled space (Pyomo's NL writer). ``magnitude_scaling``
    scales the variables by their starting magnitudes (batched path and real Ipopt's ``.nl``
    path; see :mod:`idaes_hybrid.solve.magnitude_scaling`).
    """
    from idaes_hybrid.nn.formulations import Formulation
    from idaes_hybrid.solve.solver import get_nlp_solver

    nets = as_networks(net)
    if nets and all(n.config.formulation is Formulation.BATCHED for n in nets) \
            and any(n.point_io() for n in nets):
        return solve_batched(model, nets, options, tee, user_scaling=user_scaling,
                             magnitude_scaling=magnitude_scaling)
    if (options or {}).get("hessian_approximation") == BLOCK_DIAGONAL:  # only the batched path has it
        options = {**options, "hessian_approximation": "exact"}
    if not user_scaling and _real_ipopt_in_process():
        from idaes_hybrid.solve.nl_solve import solve_nl

        return solve_nl(model, options, tee, magnitude_scaling=magnitude_scaling)
    return get_nlp_solver(options).solve(model, tee=tee)


def _real_ipopt_in_process() -> bool:
    """Whether a model without batched points goes to the real Ipopt + MUMPS of cyipopt
    (more robust than POUNCE on IDAES models): cyipopt is installed and no solver was chosen
    with ``IDAES_HYBRID_SOLVER`` (``auto`` or unset)."""
    import importlib.util

    choice = os.environ.get("IDAES_HYBRID_SOLVER", "auto").strip().lower() or "auto"
    return choice == "auto" and importlib.util.find_spec("cyipopt") is not None


def scaling_vectors(variables: Sequence, constraints: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Scaling factors (default 1) of ``variables`` and ``constraints``, for Ipopt's user scaling."""
    from idaes.core.scaling.util import get_scaling_factor

    x = np.array([get_scaling_factor(v, default=1.0) for v in variables], float)
    g = np.array([get_scaling_factor(c, default=1.0) for c in constraints], float)
    return x, g

"""Batched evaluation of a dense network and its exact derivatives.

The network written into an NLP is evaluated at many points that share one
weight vector ``theta``. Here all points are evaluated at once with numpy, with
the derivatives an interior-point solver needs:

* :meth:`BatchedNetwork.forward`: outputs ``y[p, o]`` of the normalized network;
* :meth:`BatchedNetwork.jacobian`: ``dy[p, o]/dtheta`` and ``dy[p, o]/du[p]``;
* :meth:`BatchedNetwork.weighted_hessian`: the exact Hessian of
  ``sum_{p,o} c[p, o] y[p, o]`` with respect to ``theta`` and every ``u[p]``,
  by forward-over-reverse differentiation along all ``theta`` directions and the
  ``n_inputs`` input directions at once (points do not share inputs, so one
  input direction serves every point).

``u`` are normalized inputs; ``theta`` is ordered as
:meth:`~idaes_hybrid.nn.network.NetworkSpec.flat_parameters` (per layer: ``W``
row-major, then ``b``).
"""

from __future__ import annotations

import numpy as np

from idaes_hybrid.nn.network import Activation, NetworkSpec


def _sig(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def activation_derivatives(
    act: Activation, a: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value, first and second derivative of an activation at ``a``.

    Parameters
    ----------
    act
        The activation.
    a
        Pre-activation values (any shape).

    Returns
    -------
    tuple of numpy.ndarray
        ``act(a)``, ``act'(a)`` and ``act''(a)``, elementwise.
    """
    if act is Activation.TANH:
        h = np.tanh(a)
        d1 = 1.0 - h * h
        return h, d1, -2.0 * h * d1
    if act is Activation.SIGMOID:
        s = _sig(a)
        d1 = s * (1.0 - s)
        return s, d1, d1 * (1.0 - 2.0 * s)
    if act is Activation.SOFTPLUS:
        s = _sig(a)
        return np.logaddexp(0.0, a), s, s * (1.0 - s)
    if act is Activation.SWISH:
        s = _sig(a)
        ds = s * (1.0 - s)
        return a * s, s + a * ds, 2.0 * ds + a * ds * (1.0 - 2.0 * s)
    return a, np.ones_like(a), np.zeros_like(a)


_derivs = activation_derivatives


class BatchedNetwork:
    """A network's structure, evaluated for many points and one ``theta``."""

    def __init__(self, spec: NetworkSpec):
        self.sizes = list(spec.sizes)
        self.activations = list(spec.activations)
        self.n_theta = spec.n_parameters
        self._slices = []
        pos = 0
        for k in range(len(self.sizes) - 1):
            n_out, n_in = self.sizes[k + 1], self.sizes[k]
            self._slices.append((pos, pos + n_out * n_in, pos + n_out * n_in + n_out))
            pos += n_out * n_in + n_out
        self._own = [self._own_rows(k) for k in range(len(self._slices))]
        #: layer k's own directions move nothing nonlinear after it (every later layer is
        #: linear): their adjoint tangents then have one nonzero unit each (see _own_block)
        self._linear_after = [all(a is Activation.LINEAR for a in self.activations[k + 1:])
                              for k in range(len(self._slices))]
        self._own_cols = [self._own_columns(k) for k in range(len(self._slices))]

    def unpack(self, theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Split ``theta`` into per-layer ``(W, b)`` views."""
        out = []
        for k, (s, m, e) in enumerate(self._slices):
            out.append((theta[s:m].reshape(self.sizes[k + 1], self.sizes[k]), theta[m:e]))
        return out

    def _forward(self, theta, u):
        layers = self.unpack(theta)
        hs, d1s, d2s = [u], [], []
        h = u
        for (w, b), act in zip(layers, self.activations):
            h, d1, d2 = _derivs(act, h @ w.T + b)
            hs.append(h)
            d1s.append(d1)
            d2s.append(d2)
        return layers, hs, d1s, d2s

    def forward(self, theta: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Normalized outputs, shape ``(n_points, n_outputs)``."""
        return self._forward(theta, u)[1][-1]

    def jacobian(self, theta: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-point derivatives of every output.

        Returns
        -------
        d_theta : ndarray, shape ``(n_points, n_outputs, n_theta)``
        d_u : ndarray, shape ``(n_points, n_outputs, n_inputs)``
        """
        layers, hs, d1s, _ = self._forward(theta, u)
        n_p, n_o = u.shape[0], self.sizes[-1]
        d_theta = np.zeros((n_p, n_o, self.n_theta))
        # adjoint of the last layer's activation output, one seed per output
        g = np.broadcast_to(np.eye(n_o), (n_p, n_o, n_o)).copy()  # (P, O, n_L)
        for k in range(len(layers) - 1, -1, -1):
            w, _ = layers[k]
            abar = g * d1s[k][:, None, :]  # (P, O, n_k+1)
            s, m, e = self._slices[k]
            d_theta[:, :, s:m] = (abar[:, :, :, None] * hs[k][:, None, None, :]).reshape(n_p, n_o, -1)
            d_theta[:, :, m:e] = abar
            g = abar @ w  # (P, O, n_k)
        return d_theta, g

    def weighted_hessian(self, theta: np.ndarray, u: np.ndarray, c: np.ndarray, mixed: bool = True,
                         upper_only: bool = False):
        """Exact Hessian of ``sum(c * y)`` in ``theta`` and the inputs.

        Parameters
        ----------
        theta
            Flat parameters.
        u
            Normalized inputs, shape ``(P, n_in)``.
        c
            Weights of the outputs, shape ``(P, n_out)``.
        mixed
            Compute the mixed block ``h_ut`` (``False``: ``None`` is returned in its place,
            for the block-diagonal Hessian, which does not use it).
        upper_only
            Compute only the blocks of ``h_tt`` on and above the diagonal of layer blocks and
            take the others as their transposes: about half the work on a two-hidden-layer
            network, the same values to rounding (``False``: both triangles are computed and
            averaged, the arithmetic the exact-Hessian solves were validated with).

        Returns
        -------
        h_tt : ndarray ``(n_theta, n_theta)``
            Hessian block in ``theta`` (symmetric).
        h_ut : ndarray ``(P, n_in, n_theta)`` or None
            Mixed block: derivative of the ``theta``-gradient along each point's inputs.
        h_uu : ndarray ``(P, n_in, n_in)``
            Each point's own input block.
        """
        layers, hs, d1s, d2s = self._forward(theta, u)
        gbar, abar = self._adjoints(layers, d1s, c)
        hdots, adots = self._parameter_tangents(layers, hs, d1s)
        h, gdot = self._tangent_reverse(layers, hs, d1s, d2s, gbar, abar, hdots, adots,
                                        both=not upper_only)
        h_tt = h + h.T
        if upper_only:  # the diagonal blocks were counted twice
            for s, _, e in self._slices:
                h_tt[s:e, s:e] *= 0.5
        else:
            h_tt *= 0.5
        h_ut = self._per_point_mixed(layers, hs, d1s, d2s, abar, gbar) if mixed else None
        h_uu = np.transpose(gdot[-self.sizes[0]:], (1, 0, 2))  # the inputs: (P, n_in, n_in)
        return h_tt, h_ut, h_uu

    @staticmethod
    def _adjoints(layers, d1s, c):
        """Reverse sweep: adjoints of the layer inputs (``gbar``) and pre-activations (``abar``)."""
        L = len(layers)
        gbar, abar = [None] * (L + 1), [None] * L
        gbar[L] = c
        for k in range(L - 1, -1, -1):
            abar[k] = gbar[k + 1] * d1s[k]
            gbar[k] = abar[k] @ layers[k][0]
        return gbar, abar

    def _own_rows(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Layer ``k``'s own directions: the rows of ``W[k][i, j]`` and ``b[k][i]`` (``theta``
        order) and, for each, the unit ``i`` it moves and the layer input ``j`` it multiplies
        (``-1`` for a bias)."""
        s, m, e = self._slices[k]
        n_k = self.sizes[k]
        i_w, j_w = np.divmod(np.arange(m - s), n_k)
        return (np.arange(s, e), np.concatenate([i_w, np.arange(e - m)]),
                np.concatenate([j_w, np.full(e - m, -1)]))

    def _own_columns(self, k: int) -> np.ndarray:
        """For each own direction of layer ``k`` (row ``r``), the ``theta`` columns of its unit's
        weights and bias, shape ``(rows, n_k + 1)``."""
        s, m, _ = self._slices[k]
        n_k = self.sizes[k]
        units = self._own[k][1]
        return np.concatenate([s + units[:, None] * n_k + np.arange(n_k)[None, :],
                               (m + units)[:, None]], axis=1)

    def _own_values(self, h: np.ndarray, scale: np.ndarray, k: int) -> np.ndarray:
        """``d a_k[p, i] / d theta_r`` (``h_k[p, j]``, or 1 for a bias) times ``scale[p, i]``
        for each own direction ``r`` of layer ``k``, shape ``(rows, P)``."""
        _, units, inputs = self._own[k]
        h_one = np.concatenate([h, np.ones((h.shape[0], 1))], axis=1)
        return (h_one[:, inputs] * scale[:, units]).T

    def _parameter_tangents(self, layers, hs, d1s):
        """Forward tangents of every layer's input (``hdots``) and pre-activation (``adots``)
        along every direction: the parameters (``theta`` order), then the inputs, shape
        ``(D, P, n)``. A parameter of layer ``j`` moves nothing before layer ``j``: only the
        rows of earlier layers' parameters and of the inputs are propagated. Rows that are
        never read are left unset: in ``adots[k]`` layer ``k``'s own directions (a single
        entry each, used in closed form by :meth:`_tangent_reverse`) and later layers'; in
        ``hdots[k + 1]`` later layers'."""
        n_p, n_in = hs[0].shape
        T = self.n_theta
        hdot = np.zeros((T + n_in, n_p, n_in))
        hdot[T:] = np.eye(n_in)[:, None, :]
        hdots, adots = [hdot], []
        for k, (w, _) in enumerate(layers):
            s, m, e = self._slices[k]
            n_out = w.shape[0]
            adot = np.empty((T + n_in, n_p, n_out))
            if s:
                np.matmul(hdot[:s], w.T, out=adot[:s])
            np.matmul(hdot[T:], w.T, out=adot[T:])
            adots.append(adot)
            hdot = np.empty_like(adot)
            if s:
                np.multiply(adot[:s], d1s[k][None], out=hdot[:s])
            np.multiply(adot[T:], d1s[k][None], out=hdot[T:])
            rows, units, _ = self._own[k]
            hdot[s:e] = 0.0
            hdot[rows, :, units] = self._own_values(hs[k], d1s[k], k)
            hdots.append(hdot)
        return hdots, adots

    def _tangent_reverse(self, layers, hs, d1s, d2s, gbar, abar, hdots, adots, both: bool):
        """Tangent of the reverse sweep: the parameter gradient's derivatives ``(n_theta,
        n_theta)`` and the input adjoint's tangent ``(n_in, P, n_in)``.

        ``both``: every direction is carried through every layer and both triangles of the
        Hessian are computed. Otherwise, at layer ``k`` only the directions of layers
        ``0..k`` and of the inputs are carried (half the work on a two-hidden-layer network):
        a later layer's rows in layer ``k``'s columns are the transposes of entries computed
        at that later layer, and only the blocks on and above the diagonal of layer blocks
        are returned (zeros below)."""
        T, n_in, n_p = self.n_theta, self.sizes[0], hs[0].shape[0]
        h = np.zeros((T, T))
        gdot = np.zeros((T + n_in, n_p, self.sizes[-1]))  # rows: theta[:keep], then the inputs
        for k in range(len(layers) - 1, -1, -1):
            w, _ = layers[k]
            s, m, e = self._slices[k]
            keep = T if both else e
            g2 = gbar[k + 1] * d2s[k]
            rows, units, inputs = self._own[k]  # one entry each: in closed form
            own = self._own_values(hs[k], g2, k)
            h_one = np.concatenate([hs[k], np.ones((n_p, 1))], axis=1)
            if self._linear_after[k] and not both:
                # nothing nonlinear after layer k: its own directions' gdot is zero, so their
                # adjoint tangent is the one unit each moves, and their rows of h are own @ h_one
                # (equal to the dense product to rounding, not bit for bit: the exact-Hessian
                # solves keep the arithmetic they were validated with)
                abar_dot = np.empty_like(gdot)
                np.multiply(gdot[:s], d1s[k][None], out=abar_dot[:s])
                np.multiply(gdot[e:], d1s[k][None], out=abar_dot[e:])
                h[rows[:, None], self._own_cols[k]] = own @ h_one
                dense = ((0, s),)  # the own rows are not carried down
            else:
                abar_dot = gdot * d1s[k][None]
                abar_dot[rows, :, units] += own
                dense = ((0, keep),)
            if s:
                abar_dot[:s] += adots[k][:s] * g2[None]
            abar_dot[keep:] += adots[k][T:] * g2[None]
            for first, last in dense:
                self._layer_columns(k, h[first:last], abar_dot[first:last], h_one)
            if s:  # where h_k moves: Wbar's tangent along h_k's
                h[:s, s:m] += np.matmul(abar[k].T, hdots[k][:s]).reshape(s, -1)
            # the next layer down carries theta[:s] (all of theta with both) and the inputs
            carried = abar_dot if both else np.concatenate([abar_dot[:s], abar_dot[e:]])
            gdot = carried * w[0] if w.shape[0] == 1 else carried @ w
            if both:  # directions perturbing W[k] add W_dot^T abar to gdot
                gdot[rows[: m - s], :, inputs[: m - s]] += abar[k][:, units[: m - s]].T
        return h, gdot

    def _layer_columns(self, k: int, h_rows: np.ndarray, abar_dot: np.ndarray,
                       h_one: np.ndarray) -> None:
        """``h_rows``' entries in layer ``k``'s columns from the tangents ``abar_dot`` of its
        pre-activation adjoint: ``d/dd`` of ``Wbar = sum_p abar h^T`` and ``bbar = sum_p abar``,
        in one product (``h_one`` is the layer input with a column of ones)."""
        if not len(h_rows):
            return
        s, m, e = self._slices[k]
        n_k = self.sizes[k]
        wbar_dot = np.matmul(abar_dot.transpose(0, 2, 1), h_one)  # (rows, n_out, n_k + 1)
        h_rows[:, s:m] = wbar_dot[:, :, :n_k].reshape(len(h_rows), -1)
        h_rows[:, m:e] = wbar_dot[:, :, n_k]

    def input_hessian(self, theta: np.ndarray, u: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Each point's Hessian of ``sum(c * y)`` in its own inputs only, shape
        ``(P, n_in, n_in)``: the ``h_uu`` block of :meth:`weighted_hessian` at a
        fraction of its cost, for fixed weights (simulation, inner problems)."""
        layers, hs, d1s, d2s = self._forward(theta, u)
        n_p, n_in = u.shape
        L = len(layers)
        gbar = [None] * (L + 1)
        gbar[L] = c
        for k in range(L - 1, -1, -1):
            gbar[k] = (gbar[k + 1] * d1s[k]) @ layers[k][0]
        hdot = np.broadcast_to(np.eye(n_in)[:, None, :], (n_in, n_p, n_in))
        adots = []
        for k, (w, _) in enumerate(layers):
            adot = hdot @ w.T
            adots.append(adot)
            hdot = adot * d1s[k][None]
        gdot = np.zeros((n_in, n_p, self.sizes[-1]))
        for k in range(L - 1, -1, -1):
            abar_dot = gdot * d1s[k][None] + gbar[k + 1][None] * d2s[k][None] * adots[k]
            gdot = abar_dot @ layers[k][0]
        return np.transpose(gdot, (1, 0, 2))

    def _per_point_mixed(self, layers, hs, d1s, d2s, abar, gbar):
        """``d/du[p] (d sum(c y)/d theta)`` for every point separately."""
        n_p, n_in = hs[0].shape
        L = len(layers)
        hdot = np.broadcast_to(np.eye(n_in)[:, None, :], (n_in, n_p, n_in))
        hdots, adots = [hdot], []
        for k, (w, _) in enumerate(layers):
            adot = hdot @ w.T
            adots.append(adot)
            hdot = adot * d1s[k][None]
            hdots.append(hdot)
        out = np.zeros((n_p, n_in, self.n_theta))
        gdot = np.zeros((n_in, n_p, self.sizes[-1]))
        for k in range(L - 1, -1, -1):
            w, _ = layers[k]
            s, m, e = self._slices[k]
            abar_dot = gdot * d1s[k][None] + gbar[k + 1][None] * d2s[k][None] * adots[k]
            wbar_dot = abar_dot[:, :, :, None] * hs[k][None, :, None, :] + abar[k][None, :, :, None] * hdots[k][:, :, None, :]
            out[:, :, s:m] = np.transpose(wbar_dot, (1, 0, 2, 3)).reshape(n_p, n_in, -1)
            out[:, :, m:e] = np.transpose(abar_dot, (1, 0, 2))
            gdot = abar_dot @ w
        return out

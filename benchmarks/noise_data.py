"""Fed-batch bioreactor data sets with a chosen kinetic law, ragged sampling and missing values.

The plant is the one of ``flowsheets/bioreactor/generate_data.py`` (states ``X``,
``P``, ``S``, ``V``; constant feed ``F``, feed concentration ``Sf = S(0)``)::

    dX/dt = mu X - F X / V
    dP/dt = Ypx mu X - F P / V
    dS/dt = F (Sf - S) / V - mu X / Yxs
    dV/dt = F

with the specific growth rate ``mu`` given by one of :data:`KINETICS`:

* ``monod``: ``mu_max S / (Ks + S)``;
* ``haldane`` (substrate inhibition): ``mu_max S / (Ks + S + S^2 / Ki)``;
* ``contois`` (ratio-dependent): ``mu_max S / (Kc X + S)``;
* ``tessier`` (exponential saturation): ``mu_max (1 - exp(-S / Ks))``;
* ``moser`` (sigmoidal): ``mu_max S^2 / (Ks + S^2)``.

:func:`write_data_set` draws, from a seed and the kinetics (:func:`data_rng`), the sample times of each training
batch (uniform on the horizon, sorted, a different grid per batch), Gaussian noise
of the sd of ``generate_data.py`` and missing cells, writes the CSV files and a
config in the layout of ``docs/how-to/config-reference.md`` (with or without the
true ``noise_sd``; no ``[training]``, ``[reference]`` or ``[optimization]`` table).
The validation batch is noise-free on a regular grid, as in ``generate_data.py``.
Its ``design`` (:data:`DESIGNS`) chooses the batches: those of ``generate_data.py``
(``"public"``, the default), or others with their own constant feed ``F`` and ``Sf``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp


def _public_case():
    """``flowsheets/bioreactor/generate_data.py`` (not a package): batches, noise, feed."""
    path = Path(__file__).resolve().parents[1] / "flowsheets" / "bioreactor" / "generate_data.py"
    spec = importlib.util.spec_from_file_location("bioreactor_generate_data", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_CASE = _public_case()
#: States (CSV column order), feed flow (L/h), final time (h), noise sd, initial states of
#: the training and validation batches: those of the public case's generator.
STATES, FEED, HORIZON, NOISE_SD = _CASE.STATES, _CASE.FEED, _CASE.HORIZON, _CASE.NOISE_SD
TRAIN_BATCHES, VALIDATION_BATCH = _CASE.TRAIN_BATCHES, _CASE.VALIDATION_BATCH
#: Known physics (yields) of the hybrid model and of the plant.
YXS, YPX = 0.5, 0.2
#: Samples per training batch (before missing cells) and on the validation grid.
N_TRAIN, N_VALIDATION = 31, 41
#: Probability that one measured cell is missing (a row keeps at least one value).
MISSING = 0.1


def monod(X: float, S: float, mu_max: float = 0.2, Ks: float = 1.0) -> float:
    """Monod growth rate ``mu_max S / (Ks + S)`` (1/h)."""
    return mu_max * S / (Ks + S)


def haldane(X: float, S: float, mu_max: float = 0.3, Ks: float = 1.0, Ki: float = 5.0) -> float:
    """Substrate-inhibition (Haldane) growth rate ``mu_max S / (Ks + S + S^2 / Ki)`` (1/h)."""
    return mu_max * S / (Ks + S + S * S / Ki)


def contois(X: float, S: float, mu_max: float = 0.2, Kc: float = 1.0) -> float:
    """Ratio-dependent (Contois) growth rate ``mu_max S / (Kc X + S)`` (1/h)."""
    return mu_max * S / (Kc * X + S) if Kc * X + S > 0 else 0.0


def tessier(X: float, S: float, mu_max: float = 0.25, Ks: float = 2.0) -> float:
    """Exponential-saturation (Tessier) growth rate ``mu_max (1 - exp(-S / Ks))`` (1/h)."""
    return mu_max * (1.0 - np.exp(-max(S, 0.0) / Ks))


def moser(X: float, S: float, mu_max: float = 0.22, Ks: float = 1.5) -> float:
    """Sigmoidal (Moser, exponent 2) growth rate ``mu_max S^2 / (Ks + S^2)`` (1/h)."""
    S = max(S, 0.0)
    return mu_max * S * S / (Ks + S * S)


@dataclass(frozen=True)
class Design:
    """The batches of a data set: name -> initial state, and each batch's constant feed.

    Attributes
    ----------
    train, validation
        Batch name -> initial ``X``, ``P``, ``S``, ``V``.
    feed
        Batch name -> ``(F, Sf)`` (L/h, g/L); a batch not listed runs at :data:`FEED` with
        ``Sf = S(0)``, as the public case's generator.
    """

    train: Mapping[str, Mapping[str, float]]
    validation: Mapping[str, Mapping[str, float]]
    feed: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def feed_of(self, name: str) -> tuple[float, float]:
        """``(F, Sf)`` of batch ``name``."""
        initial = {**self.train, **self.validation}[name]
        return self.feed.get(name, (FEED, float(initial["S"])))


#: The batches of a data set. ``"public"``: those of ``generate_data.py`` (S(0) = Sf = 5-10
#: g/L: the Haldane law's inhibiting range). ``"low_substrate"``: a concentrated feed
#: (25-30 g/L) at low constant rates onto a dense culture, so that S stays below about 2.2
#: g/L, under the Haldane optimum sqrt(Ks Ki) = 2.24 g/L: the data never show inhibition.
DESIGNS: dict[str, Design] = {
    "public": Design(TRAIN_BATCHES, VALIDATION_BATCH),
    "low_substrate": Design(
        train={"b1": {"X": 2.0, "P": 0.0, "S": 1.0, "V": 1.0},
               "b2": {"X": 1.0, "P": 0.0, "S": 1.0, "V": 1.0},
               "b3": {"X": 0.5, "P": 0.0, "S": 1.5, "V": 0.9}},
        validation={"val": {"X": 1.0, "P": 0.0, "S": 1.5, "V": 1.0}},
        feed={"b1": (0.04, 30.0), "b2": (0.02, 30.0), "b3": (0.015, 25.0), "val": (0.02, 30.0)}),
}

#: Kinetics name -> growth-rate function ``mu(X, S)`` with its default constants.
#: (New laws go at the end: :func:`data_rng` draws by their position.)
KINETICS: dict[str, Callable[[float, float], float]] = {
    "monod": monod, "haldane": haldane, "contois": contois, "tessier": tessier, "moser": moser}


def simulate(initial: Mapping[str, float], t_eval: Sequence[float] | np.ndarray,
             kinetics: Callable[[float, float], float], F: float = FEED,
             Sf: float | None = None) -> pd.DataFrame:
    """Noise-free fed-batch trajectory with growth rate ``kinetics(X, S)``.

    Parameters
    ----------
    initial : Mapping[str, float]
        Initial ``X``, ``P``, ``S``, ``V``.
    t_eval : array_like
        Increasing report times (h); the integration starts at 0.
    kinetics : callable
        ``mu(X, S)`` (1/h), e.g. one of :data:`KINETICS`.
    F : float, optional
        Constant feed flow rate (L/h).
    Sf : float, optional
        Feed substrate concentration (g/L); ``None``: ``S(0)``.

    Returns
    -------
    pandas.DataFrame
        Index ``time``, columns ``X``, ``P``, ``S``, ``V``.
    """
    t = np.asarray(t_eval, dtype=float)
    Sf = float(initial["S"]) if Sf is None else float(Sf)

    def rhs(_t: float, y: np.ndarray) -> list[float]:
        X, P, S, V = y
        mu = kinetics(X, S)
        dil = F / V
        return [mu * X - dil * X, YPX * mu * X - dil * P, dil * (Sf - S) - mu * X / YXS, F]

    y0 = [float(initial[name]) for name in STATES]
    sol = solve_ivp(rhs, (0.0, float(t[-1])), y0, method="Radau", t_eval=t, rtol=1e-10, atol=1e-12)
    if not sol.success:
        raise RuntimeError(f"integration failed: {sol.message}")
    return pd.DataFrame(sol.y.T, columns=list(STATES), index=pd.Index(t, name="time"))


def ragged_batch(initial: Mapping[str, float], kinetics: Callable[[float, float], float],
                 rng: np.random.Generator, n: int = N_TRAIN, missing: float = MISSING,
                 F: float = FEED, Sf: float | None = None) -> pd.DataFrame:
    """One noisy training batch: random sample times, noise, missing cells.

    Parameters
    ----------
    initial : Mapping[str, float]
        Initial state of the batch.
    kinetics : callable
        Growth rate ``mu(X, S)``.
    rng : numpy.random.Generator
        Source of the sample times, noise and missing cells.
    n : int, optional
        Number of sample times (uniform on ``[0, HORIZON]``, distinct, sorted).
    missing : float, optional
        Probability that a cell is missing; every row keeps at least one value.
    F, Sf : float, optional
        Constant feed flow rate and feed concentration (``None``: ``S(0)``), as in
        :func:`simulate`.

    Returns
    -------
    pandas.DataFrame
        Index ``time``, columns ``X``, ``P``, ``S``, ``V`` with NaN for missing cells.
    """
    t = np.unique(np.round(rng.uniform(0.0, HORIZON, size=n), 3))
    clean = simulate(initial, t, kinetics, F, Sf)
    sd = np.array([NOISE_SD[name] for name in STATES])
    noisy = clean + rng.normal(0.0, 1.0, size=clean.shape) * sd
    mask = rng.uniform(size=clean.shape) < missing
    mask[mask.all(axis=1), rng.integers(len(STATES))] = False
    return noisy.mask(mask)


def config_text(with_noise: bool, data_prefix: str = "data/", design: str = "public") -> str:
    """A unit-path config for the data set (no ``[training]``: the defaults).

    Parameters
    ----------
    with_noise : bool
        Give the true ``noise_sd`` in each training experiment.
    data_prefix : str, optional
        Path of the CSV folder relative to the config file.
    design : str, optional
        A key of :data:`DESIGNS`: the batches.

    Returns
    -------
    str
        TOML text.
    """
    sd = "{" + ", ".join(f"{k} = {v}" for k, v in NOISE_SD.items()) + "}"
    lines = ['model = "fed_batch_bioreactor"', "[physics]", f"Yxs = {YXS}", f"Ypx = {YPX}",
             "[network]", 'inputs = ["X", "S", "P", "V"]', "hidden = [20, 20]",
             'activation = "softplus"', "seed = 0", "[discretization]", "nfe = 20", "ncp = 3",
             "[solver]", "tol = 1e-6", "max_iter = 1000"]
    batches = DESIGNS[design]
    for name, initial in {**batches.train, **batches.validation}.items():
        init = "{" + ", ".join(f"{k} = {initial[k]}" for k in STATES) + "}"
        role = "train" if name in batches.train else "validation"
        F, Sf = batches.feed_of(name)
        lines += ["", "[[experiments]]", f'name = "{name}"', f'data = "{data_prefix}{name}.csv"',
                  f"initial = {init}", f"inputs = {{F = {F}, Sf = {Sf}}}",
                  f"horizon = {HORIZON}", f'role = "{role}"']
        if with_noise and role == "train":
            lines.append(f"noise_sd = {sd}")
    return "\n".join(lines) + "\n"


def role_of(name: str) -> str:
    """``"train"`` for a training batch, ``"validation"`` for the validation batch."""
    return "train" if name in TRAIN_BATCHES else "validation"


def data_rng(kinetics: str, seed: int) -> np.random.Generator:
    """Random generator of one data set: independent draws for every (kinetics, seed) pair."""
    return np.random.default_rng([seed, list(KINETICS).index(kinetics)])


def write_data_set(folder: Path, kinetics: str, seed: int, n_train: int = N_TRAIN,
                   missing: float = MISSING, design: str = "public") -> dict[str, Path]:
    """Write ``data/*.csv``, ``with_noise.toml`` and ``without_noise.toml`` into ``folder``.

    Parameters
    ----------
    folder : pathlib.Path
        Output folder (created if missing).
    kinetics : str
        A key of :data:`KINETICS`.
    seed : int
        Seed of the sample times, noise and missing cells (with the kinetics: :func:`data_rng`).
    n_train : int, optional
        Samples per training batch before de-duplication.
    missing : float, optional
        Probability of a missing cell.
    design : str, optional
        A key of :data:`DESIGNS`: the batches (``"public"``: those of ``generate_data.py``).

    Returns
    -------
    dict[str, pathlib.Path]
        ``{"with": config with the true noise_sd, "without": config without it}``.
    """
    mu = KINETICS[kinetics]
    rng = data_rng(kinetics, seed)
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    batches = DESIGNS[design]
    for name, initial in batches.train.items():
        frame = ragged_batch(initial, mu, rng, n_train, missing, *batches.feed_of(name))
        frame.to_csv(data / f"{name}.csv", float_format="%.8g", lineterminator="\n", na_rep="")
    for name, initial in batches.validation.items():
        frame = simulate(initial, np.linspace(0.0, HORIZON, N_VALIDATION), mu, *batches.feed_of(name))
        frame.to_csv(data / f"{name}.csv", float_format="%.8g", lineterminator="\n")
    paths = {"with": folder / "with_noise.toml", "without": folder / "without_noise.toml"}
    paths["with"].write_text(config_text(True, design=design))
    paths["without"].write_text(config_text(False, design=design))
    return paths

"""Experiments: one batch's measured time series, initial state and inputs.

Every error is a :class:`DataError` whose message starts with the bad field,
e.g. ``experiments[1] ('b2').data: file '/abs/b2.csv' not found``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import idaes.logger as idaeslog

_log = idaeslog.getLogger(__name__)

_REQUIRED_KEYS = ("name", "data", "initial", "inputs", "horizon")
_KEYS = _REQUIRED_KEYS + ("role", "noise_sd")


class Role(str, Enum):
    """What an experiment is used for."""

    TRAIN = "train"
    VALIDATION = "validation"


class DataError(ValueError):
    """Invalid experiment data; the message starts with the bad field's name."""


def experiment_field(index: int, name: str | None = None) -> str:
    """Return the field name of an experiment, e.g. ``experiments[1] ('b2')``."""
    return f"experiments[{index}]" if name is None else f"experiments[{index}] ({name!r})"


def _valid(names: Iterable[str]) -> str:
    return ", ".join(repr(n) for n in names) or "(none)"


def _parse_role(value: Any, field: str) -> Role:
    try:
        return value if isinstance(value, Role) else Role(value)
    except (ValueError, TypeError):
        raise DataError(f"{field}: {value!r} is not a valid role; valid roles: "
                        f"{_valid(r.value for r in Role)}") from None


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise DataError(f"{field}: expected a number, got {value!r}")
    return float(value)


def _number_table(value: Any, field: str) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise DataError(f"{field}: expected a table of name = number, got {value!r}")
    return {str(k): _number(v, f"{field}.{k}") for k, v in value.items()}


def _input_table(value: Any, field: str) -> dict[str, Any]:
    """``name = number`` or a parsed time-varying profile (an object with ``check``, as
    :func:`~idaes_hybrid.model.inputs.parse_input` gives)."""
    if not isinstance(value, Mapping):
        raise DataError(f"{field}: expected a table of name = number or profile, got {value!r}")
    return {str(k): v if hasattr(v, "check") else _number(v, f"{field}.{k}") for k, v in value.items()}


def check_data_file(path: str | Path, field: str) -> None:
    """Refuse a measurement file that is a directory, cannot be read, or is not
    comma-separated (a semicolon- or tab-separated export gets a hint).

    Parameters
    ----------
    path : str or pathlib.Path
        The CSV file (a missing file is left to the reader, which reports it).
    field : str
        Field name for messages, e.g. ``experiments[0] ('b1').data``.

    Raises
    ------
    DataError
        With the field name and the file's absolute path.
    """
    path = Path(path).expanduser().resolve()
    if path.is_dir():
        raise DataError(f"{field}: '{path}' is a directory, not a CSV file")
    if not path.exists():
        return
    try:
        with path.open("rb") as fh:
            head = fh.read(65536)
    except OSError as err:
        raise DataError(f"{field}: cannot read file '{path}': {err.strerror or err}") from None
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{field}: file '{path}' is UTF-16 text (a spreadsheet's 'Unicode text' "
                        "export); save it as CSV in UTF-8, with ',' between columns")
    header = head.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()[:1]
    header = header[0] if header else ""
    for sep, name in ((";", "semicolons"), ("\t", "tabs")):
        if "," not in header and sep in header:
            raise DataError(f"{field}: file '{path}' separates its columns with {name}; "
                            "idaes-hybrid reads comma-separated CSV (save it with ',' between "
                            "columns and '.' as the decimal point)")


def data_path(base_dir: str | Path, value: str | Path) -> Path:
    """A data file named in a config: ``~`` expanded, a relative path taken relative to
    ``base_dir`` (the config file's directory)."""
    return Path(base_dir) / Path(value).expanduser()


def _unnamed_columns(raw: pd.DataFrame, where: str) -> pd.DataFrame:
    """Drop columns without a header name and without values (the empty column a trailing
    comma on every line makes); refuse an unnamed column that holds values."""
    header = raw.iloc[0]
    unnamed = [j for j in range(raw.shape[1])
               if pd.isna(header.iloc[j]) or not str(header.iloc[j]).strip()]
    for j in unnamed:
        if raw.iloc[1:, j].notna().any():
            hint = (" (a row index written by pandas? save with to_csv(index=False))"
                    if j == 0 else "")
            raise DataError(f"{where}column {j + 1} has no name in the header row but holds "
                            f"values{hint}; name it or remove it")
    return raw.drop(columns=raw.columns[unnamed]) if unnamed else raw


def read_measurements(source: str | Path | pd.DataFrame, field: str) -> pd.DataFrame:
    """Read measured time series from a CSV file or a data frame.

    Parameters
    ----------
    source : str, pathlib.Path or pandas.DataFrame
        CSV file with a ``time`` column and one column per measured variable
        (blank/``NA``/``NaN`` cells are missing), or a frame with a ``time``
        column or index.
    field : str
        Name of the field being read, used in error messages.

    Returns
    -------
    pandas.DataFrame
        Floats, NaN = missing, float index ``time``; ``attrs["source"]`` is the
        file's absolute path.

    Raises
    ------
    DataError
        Missing/unreadable file, no ``time`` column, repeated column, or a cell
        that is not a number (rows count from 1, header excluded).
    """
    origin = ""
    if isinstance(source, pd.DataFrame):
        raw = source.reset_index() if source.index.name == "time" else source.copy()
    else:
        path = Path(source).expanduser().resolve()
        check_data_file(path, field)
        if not path.is_file():
            raise DataError(f"{field}: file '{path}' not found")
        origin = f"file '{path}', "
        try:
            raw = pd.read_csv(path, dtype=str, header=None, skipinitialspace=True)
        except OSError as err:
            raise DataError(f"{field}: cannot read file '{path}': {err.strerror or err}") from None
        except UnicodeDecodeError as err:
            raise DataError(f"{field}: cannot read CSV file '{path}': it is not UTF-8 text "
                            f"({err.encoding}: {err.reason}); save it as CSV in UTF-8") from None
        except pd.errors.EmptyDataError:
            raise DataError(f"{field}: file '{path}' is empty; expected a header row with a 'time' "
                            "column and the measured variables, then one row per sample") from None
        except pd.errors.ParserError as err:
            raise DataError(f"{field}: cannot read CSV file '{path}': {err}") from err
        raw = _unnamed_columns(raw, f"{field}: {origin}")
        raw = raw.iloc[1:].set_axis(raw.iloc[0].tolist(), axis=1)  # keep repeated names
        raw = raw[raw.notna().any(axis=1)]  # rows of commas only (spreadsheet exports): blank lines
    raw.columns = columns = [str(c).strip() for c in raw.columns]
    dup = sorted({c for c in columns if columns.count(c) > 1})
    if dup:
        raise DataError(f"{field}: {origin}repeated column(s) {_valid(dup)}")
    if "time" not in columns:
        raise DataError(f"{field}: {origin}no 'time' column (columns: {_valid(columns)})")
    values = {}
    for col, cells in raw.items():
        num = pd.to_numeric(cells, errors="coerce").astype(float)
        bad = np.flatnonzero(num.isna().to_numpy() & cells.notna().to_numpy())
        if bad.size:
            raise DataError(f"{field}: {origin}column {col!r}, row {bad[0] + 1}: "
                            f"{cells.iloc[bad[0]]!r} is not a number")
        values[col] = num.to_numpy()
    frame = pd.DataFrame(values).set_index("time")
    if origin:
        frame.attrs["source"] = str(path)
    return frame


class Measured:
    """What an experiment's ``measurements`` frame (index ``time``, NaN = missing) gives."""

    measurements: pd.DataFrame

    @property
    def measured_variables(self) -> list[str]:
        """Names of the columns holding at least one measured value."""
        return [str(c) for c in self.measurements.columns if self.measurements[c].notna().any()]

    def input_steps(self) -> list[float]:
        """Times where an input steps (none for constant inputs)."""
        return sorted({t for p in getattr(self, "inputs", {}).values()
                       for t in getattr(p, "breakpoints", ())})

    def observations(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the non-missing measurements in long form, ordered by time.

        Returns
        -------
        times, names, values : numpy.ndarray
            Time (float), variable name (object array of str) and value
            (float) of each observation.
        """
        data = self.measurements.to_numpy(dtype=float)
        rows, cols = np.nonzero(~np.isnan(data))
        names = np.array([str(c) for c in self.measurements.columns], dtype=object)
        return self.measurements.index.to_numpy(dtype=float)[rows], names[cols], data[rows, cols]


@dataclass(eq=False)
class Experiment(Measured):
    """One batch: initial state, constant inputs and measured time series.

    Attributes
    ----------
    name : str
        Unique name of the experiment.
    initial : dict[str, float]
        Initial value of every state.
    inputs : dict[str, float or InputProfile]
        Inputs (e.g. ``F``, ``Sf``): a constant, or an
        :class:`~idaes_hybrid.model.inputs.InputProfile` (a step profile's times become
        finite-element boundaries).
    horizon : float
        Final time of the batch; the model is simulated on ``[0, horizon]``.
    measurements : pandas.DataFrame
        Index ``time`` (float), one column per measured state, NaN = missing.
    role : Role
        Whether the experiment is used for training or validation.
    noise_sd : dict[str, float] or None
        Standard deviation of the measurement noise of measured states.
    """

    name: str
    initial: dict[str, float]
    inputs: dict[str, float]
    horizon: float
    measurements: pd.DataFrame
    role: Role = Role.TRAIN
    noise_sd: dict[str, float] | None = None

    def __post_init__(self) -> None:
        self.role = _parse_role(self.role, "role")


    def validate(self, state_names: Sequence[str], input_names: Sequence[str], field: str) -> None:
        """Check the experiment against a model's states and inputs.

        Parameters
        ----------
        state_names, input_names : Sequence[str]
            States and inputs of the model; each needs a finite value.
        field : str
            Name of the experiment in error messages, e.g. ``experiments[1] ('b2')``.

        Raises
        ------
        DataError
            Naming the first invalid field found.
        """
        states, inputs = [str(s) for s in state_names], [str(u) for u in input_names]
        _check_table(self.initial, states, f"{field}.initial", "state")
        horizon = _number(self.horizon, f"{field}.horizon")
        if not (math.isfinite(horizon) and horizon > 0):
            raise DataError(f"{field}.horizon: must be a finite number > 0, got {horizon!r}")
        profiles = {k: v for k, v in self.inputs.items() if hasattr(v, "check")}
        for name, profile in profiles.items():  # InputProfile: covers [0, horizon]
            profile.check(horizon, f"{field}.inputs.{name}")
        _check_table({k: 0.0 if k in profiles else v for k, v in self.inputs.items()}, inputs,
                     f"{field}.inputs", "input")
        data = self.measurements
        source = data.attrs.get("source")
        where = f"{field}.measurements" + (f" (file '{source}')" if source else "")
        unknown = [str(c) for c in data.columns if str(c) not in states]
        if unknown:
            hint = ("; the times belong in the index (DataFrame.set_index('time'))"
                    if unknown[0] == "time" else "")
            raise DataError(f"{where}: column {unknown[0]!r} is not a state of the model; "
                            f"valid names: {_valid(states)}{hint}")
        check_measurements(data, horizon, where, increasing=False)  # any order, replicates kept
        values = data.to_numpy(dtype=float)
        if not np.any(~np.isnan(values)):
            raise DataError(f"{where}: no measured values (all cells missing)")
        if self.noise_sd is not None:
            _check_table(self.noise_sd, states, f"{field}.noise_sd", "state", complete=False)
            unused = sorted(set(self.noise_sd) - set(self.measured_variables))
            if unused:
                _log.warning("%s.noise_sd: %s not measured; ignored", field, _valid(unused))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], base_dir: str | Path, index: int) -> Experiment:
        """Build an experiment from one ``[[experiments]]`` configuration table.

        Parameters
        ----------
        d : Mapping[str, Any]
            Keys ``name``, ``data`` (CSV path), ``initial``, ``inputs``,
            ``horizon``; optional ``role`` (default ``"train"``), ``noise_sd``.
        base_dir : str or pathlib.Path
            Directory that relative ``data`` paths are resolved against.
        index : int
            Position of the table in the ``experiments`` list.

        Returns
        -------
        Experiment
            Not yet checked against a model: call :meth:`validate`.

        Raises
        ------
        DataError
            Missing/unknown key, wrong type, bad role or unreadable data.
        """
        field = experiment_field(index)
        if not isinstance(d, Mapping):
            raise DataError(f"{field}: expected a table, got {d!r}")
        name = d.get("name")
        if not isinstance(name, str) or not name:
            raise DataError(f"{field}.name: " + ("required key missing" if name is None else
                                                 f"expected a non-empty string, got {name!r}"))
        field = experiment_field(index, name)
        missing = [k for k in _REQUIRED_KEYS if k not in d]
        if missing:
            raise DataError(f"{field}.{missing[0]}: required key missing")
        unknown = [k for k in d if k not in _KEYS]
        if unknown:
            raise DataError(f"{field}.{unknown[0]}: unknown key; valid keys: {_valid(_KEYS)}")
        if not isinstance(d["data"], (str, Path)):
            raise DataError(f"{field}.data: expected a file path, got {d['data']!r}")
        noise = d.get("noise_sd")
        return cls(
            name=name,
            initial=_number_table(d["initial"], f"{field}.initial"),
            inputs=_input_table(d["inputs"], f"{field}.inputs"),
            horizon=_number(d["horizon"], f"{field}.horizon"),
            measurements=read_measurements(data_path(base_dir, d["data"]), f"{field}.data"),
            role=_parse_role(d.get("role", Role.TRAIN.value), f"{field}.role"),
            noise_sd=None if noise is None else _number_table(noise, f"{field}.noise_sd"),
        )


def check_measurements(data: pd.DataFrame, horizon: float, where: str,
                       increasing: bool = True) -> None:
    """Refuse measurement times outside ``[0, horizon]`` and infinite values.

    Parameters
    ----------
    data : pandas.DataFrame
        Index ``time``, one column per measured variable (NaN = missing).
    horizon : float
        Final time of the experiment.
    where : str
        Field name for messages, e.g. ``experiments[0] ('b1').measurements``.
    increasing : bool
        Also require strictly increasing times (one row per time; unit models).

    Raises
    ------
    DataError
        Naming the first bad row (rows count from 1, header excluded).
    """
    try:
        times = data.index.to_numpy(dtype=float)
        values = data.to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        raise DataError(f"{where}: times and values must be numbers ({err})") from err
    for i, t in enumerate(times.tolist()):
        prev = float(times[i - 1]) if i else -math.inf
        problem = ("is not a finite number" if not math.isfinite(t) else
                   "is negative" if t < 0 else
                   f"is not after the previous time ({prev!r}); times must increase strictly"
                   if increasing and t <= prev else
                   f"is after the horizon ({horizon!r})" if t > horizon * (1 + 1e-12) else "")
        if problem:
            raise DataError(f"{where}: time at row {i + 1} ({t!r}) {problem}")
    bad = np.argwhere(np.isinf(values))
    if bad.size:
        i, j = int(bad[0, 0]), int(bad[0, 1])
        raise DataError(f"{where}: column {str(data.columns[j])!r}, row {i + 1} (time "
                        f"{float(times[i])!r}): value {float(values[i, j])!r} is not finite")


def _check_table(values: Mapping[str, Any], known: Sequence[str], field: str, kind: str,
                 complete: bool = True) -> None:
    if not isinstance(values, Mapping):
        raise DataError(f"{field}: expected a table of name = number, got {values!r}")
    for key, value in values.items():
        if key not in known:
            raise DataError(f"{field}.{key}: unknown {kind} {key!r}; valid names: {_valid(known)}")
        if not math.isfinite(_number(value, f"{field}.{key}")):
            raise DataError(f"{field}.{key}: value {value!r} is not a finite number")
        if not complete and value <= 0:  # noise standard deviations
            raise DataError(f"{field}.{key}: must be > 0, got {value!r}")
    missing = [k for k in known if k not in values] if complete else []
    if missing:
        raise DataError(f"{field}.{missing[0]}: missing value for {kind} {missing[0]!r}")


def warn_partial_noise_sd(experiments: Iterable[Any]) -> None:
    """Warn for each variable whose ``noise_sd`` some training experiments that measure it
    give and others do not: its given values are then not used (the fit estimates its noise
    level from the data; :func:`~idaes_hybrid.training.problem.noise_levels`)."""
    train = [e for e in experiments if getattr(e.role, "value", e.role) == Role.TRAIN.value]
    for name in sorted({v for e in train for v in e.measured_variables}):
        measuring = [e for e in train if name in e.measured_variables]
        given = [e.name for e in measuring if name in (e.noise_sd or {})]
        if given and len(given) < len(measuring):
            missing = [e.name for e in measuring if e.name not in given]
            _log.warning("experiments: noise_sd of %r is given by %s but not by %s, which also "
                         "measure it; its noise level is estimated from the data instead (give "
                         "it in every training experiment that measures it)", name,
                         _valid(given), _valid(missing))


def observation_count(experiment) -> int:
    """Number of measured values of an experiment (unit or flowsheet): the non-missing
    cells of its measured variables."""
    return int(sum(experiment.measurements[n].notna().sum() for n in experiment.measured_variables))


def split_by_role(experiments: Iterable[Experiment]) -> tuple[list[Experiment], list[Experiment]]:
    """Split experiments into ``(training, validation)`` lists, keeping order."""
    experiments = list(experiments)
    return ([e for e in experiments if e.role is Role.TRAIN],
            [e for e in experiments if e.role is Role.VALIDATION])

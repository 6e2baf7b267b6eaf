"""Saving and loading trained hybrid models as plain JSON (no pickle).

A saved model is a directory holding ``model.json``::

    {"format": "idaes-hybrid-model", "format_version": "1.1",
     "versions": {...}, "model": "fed_batch_bioreactor",
     "network_inputs": [...], "learned_names": [...], "physics": {...},
     "discretization": {"nfe": 20, "ncp": 3}, "formulation": "nested",
     "network": NetworkSpec.to_dict(), "normalization": {...},
     "metrics": {...}, "training_data": {"sha256": ..., "experiments": [...]},
     "checksum": {"sha256": ...}}

A model trained from ``model = "my_model.py:NAME"`` also stores ``"model_ref"``, the
module's absolute path and the name: it reloads from there, with no registration step.

``checksum`` (format 1.1) is the sha256 of every other field, written as canonical
JSON; :func:`load_model` refuses a file whose contents no longer match it (an edited
weight, a zeroed fingerprint) unless told to accept an edited file, refuses
non-finite numbers anywhere, and refuses files from a newer format version or a
newer idaes-hybrid than the reader.

Files are written atomically (temporary file in the same directory, then
``os.replace``), so a failed save never leaves a half-written ``model.json``.
"""

from __future__ import annotations

import datetime
import enum
import hashlib
import importlib.metadata
import json
import math
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

import idaes.logger as idaeslog

from idaes_hybrid.nn.formulations import Formulation
from idaes_hybrid.nn.network import NetworkConfigError, NetworkSpec
from idaes_hybrid.training.experiment import DataError
from idaes_hybrid.training.problem import Discretization
from idaes_hybrid.training.hybrid_model import HybridModel

if TYPE_CHECKING:  # pragma: no cover
    from idaes_hybrid.config.run import RunConfig
    from idaes_hybrid.training.train import TrainingResult
    from idaes_hybrid.model.definition import HybridModelDefinition
from idaes_hybrid.model.trust_region import InputBox, InputBoxError

_log = idaeslog.getLogger(__name__)

#: Name of the model file inside a saved-model directory.
MODEL_FILE = "model.json"
#: Value of the ``format`` field.
FORMAT_NAME = "idaes-hybrid-model"
#: ``MAJOR.MINOR``; files with another major version or a newer minor one are refused.
FORMAT_VERSION = "1.1"
#: Field holding the checksum of the other fields (format 1.1 on).
CHECKSUM_FIELD = "checksum"
#: Distributions whose versions are recorded.
VERSIONED_PACKAGES = ("idaes-hybrid", "idaes-pse", "pyomo", "numpy", "tensorflow")
#: Fields every model file must have.
REQUIRED_FIELDS = ("format", "format_version", "versions", "model", "network_inputs",
                   "learned_names", "physics", "discretization", "network", "normalization",
                   "metrics", "training_data")


class ModelFileError(ValueError):
    """A saved model cannot be written or read; the message names the bad field."""


@dataclass
class SavedModel:
    """A trained model as read from ``model.json``.

    Attributes
    ----------
    directory : pathlib.Path
        The saved-model directory.
    model_name : str
        Registered name of the hybrid model.
    network_inputs, learned_names : list[str]
        Network inputs (states) and outputs (learned terms), in order.
    physics : dict[str, float]
        Physics parameters used in training.
    discretization : Discretization
        Discretization used in training.
    formulation : Formulation
        How the network was written into the training NLP.
    spec : NetworkSpec
        The trained network, with its normalization.
    metrics : dict or None
        Training metrics as saved (``TrainingResult.metrics()``).
    training_data : dict
        Fingerprint of the training data (sha256 per experiment and overall).
    versions : dict[str, str or None]
        Package versions at save time.
    format_version : str
        Format version of the file.
    created : str or None
        UTC time of the save (ISO 8601).
    uncertainty : dict or None
        Covariance of the weights and band level (``[uncertainty]``); ``None`` in
        files trained without it (and in older files).
    input_box : InputBox or None
        The smallest and largest value of each network input in training (the trust
        region of ``[optimization] trust_region``); ``None`` in older files.
    model_ref : str or None
        ``"/absolute/module.py:NAME"``: the user's module holding the definition (a
        config with ``model = "module.py:NAME"``); ``None`` for a built-in name.
    """

    directory: Path
    model_name: str
    network_inputs: list[str]
    learned_names: list[str]
    physics: dict[str, float]
    discretization: Discretization
    formulation: Formulation
    spec: NetworkSpec
    metrics: dict | None
    training_data: dict
    versions: dict[str, str | None] = field(default_factory=dict)
    format_version: str = FORMAT_VERSION
    created: str | None = None
    uncertainty: dict | None = None
    input_box: InputBox | None = None
    model_ref: str | None = None

    @property
    def definition(self) -> HybridModelDefinition:
        """The model definition: from the user's module when the model was trained from a
        ``"module.py:NAME"`` config (``model_ref``), else the built-in name;
        :class:`ModelFileError` if neither is found."""
        from idaes_hybrid.cases.registry import BUILT_IN_MODELS

        if self.model_ref:
            from idaes_hybrid.model.user_module import UserModuleError, load_definition

            try:
                return load_definition(self.model_ref, self.directory, "model_ref")
            except UserModuleError as err:
                raise ModelFileError(f"{err} (named in '{self.directory / MODEL_FILE}'; the module "
                                     "the model was trained with must stay where it was)") from None
        if self.model_name not in BUILT_IN_MODELS:
            raise ModelFileError(f"model: {self.model_name!r} in '{self.directory / MODEL_FILE}' "
                                 f"is not a built-in hybrid model; known: {sorted(BUILT_IN_MODELS)}")
        return BUILT_IN_MODELS[self.model_name]

    def hybrid_model(self, unit_config: Mapping[str, Any] | None = None,
                     solver_options: Mapping[str, Any] | None = None) -> HybridModel:
        """The saved model as a :class:`~idaes_hybrid.training.hybrid_model.HybridModel`
        (trained network, physics, inputs, discretization, input box), with the unit's
        extra options and the solver options of a run."""
        return HybridModel(self.definition, self.physics, tuple(self.network_inputs),
                           self.discretization, self.spec, unit_config=unit_config,
                           solver_options=solver_options, input_box=self.input_box)


# ----------------------------------------------------------------------------- JSON helpers
def to_jsonable(obj: Any) -> Any:
    """Convert ``obj`` to JSON-ready data.

    Enums become their values, paths strings, numpy scalars and arrays Python
    numbers and lists; non-finite floats become ``None`` (JSON has no NaN).
    """
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename.

    The parent directory must exist. On any failure the temporary file is
    removed and an existing ``path`` is left unchanged.
    """
    path = Path(path)
    tmp = temporary_sibling(path)
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n") as fh:  # usual permissions
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def temporary_sibling(path: str | Path) -> Path:
    """An unused hidden name next to ``path`` for a temporary file (not created)."""
    path = Path(path)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        if not tmp.exists():
            return tmp


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Serialize ``data`` (see :func:`to_jsonable`) and write it atomically to ``path``."""
    text = json.dumps(to_jsonable(data), indent=2, allow_nan=False) + "\n"
    return write_text_atomic(path, text)


# ----------------------------------------------------------------------------- saving
def package_versions() -> dict[str, str | None]:
    """Installed versions of :data:`VERSIONED_PACKAGES` (``None`` if not installed)."""
    out: dict[str, str | None] = {}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def experiment_fingerprint(exp: Any) -> str:
    """sha256 of an experiment's measurements (as CSV text), initial state, inputs and horizon."""
    csv = exp.measurements.to_csv(float_format="%.17g", lineterminator="\n")
    extra = json.dumps({"initial": exp.initial, "inputs": exp.inputs,
                        "horizon": float(exp.horizon)}, sort_keys=True, default=_profile_json)
    return hashlib.sha256((csv + "\n" + extra).encode("utf-8")).hexdigest()


def _profile_json(value: Any) -> Any:
    """An input profile, or an enum (a steady-state initial), as JSON data (for fingerprints)."""
    if isinstance(value, enum.Enum):
        return value.value
    if hasattr(value, "value_at"):
        return {"times": list(value.times), "values": list(value.values),
                "interpolation": to_jsonable(value.interpolation)}
    raise TypeError(f"input value {value!r} is not JSON serializable")


def training_data_fingerprint(experiments: Sequence[Any]) -> dict:
    """Per-experiment and overall fingerprints of the training experiments (unit or flowsheet)."""
    items = [{"name": e.name, "sha256": experiment_fingerprint(e),
              "n_observations": int(e.measurements.notna().to_numpy().sum())}
             for e in experiments]
    overall = hashlib.sha256("".join(f"{i['name']}:{i['sha256']}\n" for i in items)
                             .encode("utf-8")).hexdigest()
    return {"sha256": overall, "experiments": items}


def _normalization(spec: NetworkSpec, inputs: Sequence[str], outputs: Sequence[str]) -> dict:
    return {
        "inputs": {n: {"mean": float(m), "std": float(s)}
                   for n, m, s in zip(inputs, spec.input_mean, spec.input_std)},
        "outputs": {n: {"mean": float(m), "std": float(s)}
                    for n, m, s in zip(outputs, spec.output_mean, spec.output_std)},
    }


def _optional_str(doc: Mapping, key: str, where: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise ModelFileError(f"{key}: expected a string in '{where}', got {value!r}")
    return value


def model_document(spec: NetworkSpec, run_config: RunConfig, metrics: Mapping | None) -> dict:
    """The content of ``model.json`` for a trained ``spec`` (see the module docstring)."""
    inputs = list(run_config.network_inputs)
    learned = list(run_config.definition.learned_names)
    if spec.n_inputs != len(inputs) or spec.n_outputs != len(learned):
        raise ModelFileError(
            f"network: has {spec.n_inputs} inputs and {spec.n_outputs} outputs but the config "
            f"names {len(inputs)} network inputs {inputs} and {len(learned)} learned terms {learned}")
    for k, (w, b) in enumerate(zip(spec.weights, spec.biases)):
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            raise ModelFileError(f"network.weights[{k}]: contains NaN or infinite values")
    disc = run_config.discretization
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": package_versions(),
        "model": run_config.definition.name,
        "network_inputs": inputs,
        "learned_names": learned,
        "physics": {k: float(v) for k, v in run_config.physics.items()},
        "discretization": {"nfe": int(disc.nfe), "ncp": int(disc.ncp)},
        "formulation": run_config.training.formulation.value,
        "network": spec.to_dict(),
        "normalization": _normalization(spec, inputs, learned),
        "metrics": None if metrics is None else dict(metrics),
        "training_data": training_data_fingerprint(run_config.training_experiments),
        **({"model_ref": run_config.model_ref} if getattr(run_config, "model_ref", None) else {}),
    }


def input_box_of(result_or_spec) -> InputBox | None:
    """The region of network inputs the training covered (the smoother's profiles at the
    network points), or ``None`` (a bare network, a resumed decomposition)."""
    profiles = getattr(result_or_spec, "smoother_profiles", None) or {}
    inputs = profiles.get("inputs")
    return InputBox.from_points(inputs) if inputs is not None and len(inputs) else None


def save_model(directory: str | Path, result_or_spec: TrainingResult | NetworkSpec,
               run_config: RunConfig, metrics: Mapping | None = None,
               uncertainty: Mapping | None = None) -> Path:
    """Save a trained model as ``directory/model.json`` (created if missing).

    Parameters
    ----------
    directory : str or pathlib.Path
        Saved-model directory; an existing ``model.json`` in it is replaced
        atomically, only once the new one is completely written.
    result_or_spec : TrainingResult or NetworkSpec
        The training result (its ``spec`` is saved) or a network directly.
    run_config : RunConfig
        The configuration the model was trained with (model, network inputs,
        physics, discretization, training experiments).
    metrics : Mapping, optional
        Metrics to store; default ``result_or_spec.metrics()`` for a result.
    uncertainty : Mapping, optional
        Covariance of the weights and band level (``predict`` writes bands from it).

    Returns
    -------
    pathlib.Path
        Path of the written ``model.json``.

    Raises
    ------
    ModelFileError
        If the network does not match the configuration or has non-finite weights.
    """
    if isinstance(result_or_spec, NetworkSpec):
        spec = result_or_spec
    else:
        spec = result_or_spec.spec
        if metrics is None:
            metrics = result_or_spec.metrics()
    document = model_document(spec, run_config, metrics)
    box = input_box_of(result_or_spec)
    if box is not None:
        document["input_box"] = box.to_dict()
    if uncertainty is not None:
        document["uncertainty"] = dict(uncertainty)
    document = to_jsonable(document)
    document[CHECKSUM_FIELD] = {"sha256": contents_checksum(document)}
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"  # fails before any write
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = write_text_atomic(directory / MODEL_FILE, text)
    _log.info(f"saved model {document['model']!r} to {path}")
    return path


def contents_checksum(document: Mapping) -> str:
    """sha256 of a model document without its ``checksum`` field, as canonical JSON.

    Parameters
    ----------
    document : Mapping
        The content of ``model.json``.

    Returns
    -------
    str
        Hexadecimal digest.
    """
    body = {k: v for k, v in document.items() if k != CHECKSUM_FIELD}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------- loading
def first_non_finite(value: Any, where: str) -> str | None:
    """Field path of the first NaN or infinite number in ``value`` (None if all finite)."""
    if isinstance(value, float):
        return None if math.isfinite(value) else where
    if isinstance(value, Mapping):
        items = ((f"{where}.{k}" if where else str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    return next((bad for path, v in items if (bad := first_non_finite(v, path))), None)


def check_writer_version(doc: Mapping, where: str) -> None:
    """Refuse a file written by a newer idaes-hybrid than this one."""
    from packaging.version import InvalidVersion, Version

    versions = doc.get("versions")
    written = versions.get("idaes-hybrid") if isinstance(versions, Mapping) else None
    ours = package_versions()["idaes-hybrid"]
    if not isinstance(written, str) or ours is None:
        return
    try:
        newer = Version(written) > Version(ours)
    except InvalidVersion:
        raise ModelFileError(f"versions.idaes-hybrid: {written!r} in '{where}' is not a "
                             "version number") from None
    if newer:
        raise ModelFileError(f"versions.idaes-hybrid: '{where}' was saved by idaes-hybrid "
                             f"{written}, newer than this {ours}; upgrade idaes-hybrid to read it")


def verify_checksum(doc: Mapping, where: str, accept_edited: bool) -> None:
    """Raise :class:`ModelFileError` unless ``doc``'s checksum matches its contents
    (``accept_edited``: warn instead); a document without one is logged as unverified."""
    recorded = doc.get(CHECKSUM_FIELD)
    if recorded is None:
        _log.info(f"{where}: no checksum (saved before format 1.1); contents not verified")
        return
    digest = recorded.get("sha256") if isinstance(recorded, Mapping) else None
    if digest == contents_checksum(doc):
        return
    if not accept_edited:
        raise ModelFileError(f"checksum: the contents of '{where}' do not match the checksum "
                             "saved with them (edited or damaged after saving); to use the "
                             "file anyway, pass --accept-edited-model")
    _log.warning(f"{where}: contents do not match their checksum; using the edited file as "
                 "asked (--accept-edited-model)")



def _require(doc: Mapping, key: str, kind: type | tuple, where: str) -> Any:
    if key not in doc:
        raise ModelFileError(f"{key}: required field missing in '{where}'")
    value = doc[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ModelFileError(f"{key}: unexpected value {value!r} in '{where}'")
    return value


def _names(doc: Mapping, key: str, where: str) -> list[str]:
    value = _require(doc, key, list, where)
    if not value or not all(isinstance(v, str) for v in value):
        raise ModelFileError(f"{key}: expected a non-empty list of names in '{where}', got {value!r}")
    return list(value)


def _check_version(doc: Mapping, where: str) -> str:
    fmt = _require(doc, "format", str, where)
    if fmt != FORMAT_NAME:
        raise ModelFileError(f"format: {fmt!r} in '{where}' is not {FORMAT_NAME!r}")
    version = _require(doc, "format_version", str, where)
    try:
        major, minor = (int(p) for p in version.split("."))
    except ValueError:
        raise ModelFileError(f"format_version: {version!r} in '{where}' is not MAJOR.MINOR") from None
    ours_major, ours_minor = (int(p) for p in FORMAT_VERSION.split("."))
    if major != ours_major:
        raise ModelFileError(f"format_version: file '{where}' has format version {version}, this "
                             f"idaes-hybrid reads major version {ours_major} ({FORMAT_VERSION})")
    if minor > ours_minor:
        raise ModelFileError(f"format_version: file '{where}' has format version {version}, newer "
                             f"than this idaes-hybrid reads ({FORMAT_VERSION}); upgrade "
                             "idaes-hybrid to read it")
    return version


def _model_file(directory: str | Path) -> Path:
    """The resolved ``model.json`` of a saved-model directory (or the file itself)."""
    path = Path(directory).expanduser()
    if path.is_dir() or path.name != MODEL_FILE:
        path = path / MODEL_FILE
    path = path.resolve()
    if not path.is_file():
        hint = ""
        if (path.parent / "model" / MODEL_FILE).is_file():
            hint = f"; this looks like a run folder: give '{path.parent / 'model'}'"
        elif (path.parent / "flowsheet_model.json").is_file():
            hint = ("; it holds a flowsheet model ('flowsheet_model.json'), which needs a "
                    "flowsheet config (a [flowsheet] table), not a config with 'model = ...'")
        raise ModelFileError(f"model_dir: no saved model at '{path.parent}' ('{MODEL_FILE}' "
                             f"not found){hint}")
    return path


def _read_document(path: Path) -> dict:
    """The JSON object in ``path``."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"model_dir: cannot read '{path}': {err}") from None
    if not isinstance(doc, dict):
        raise ModelFileError(f"model_dir: '{path}' does not hold a JSON object")
    return doc


def _read_settings(doc: Mapping, where: str) -> tuple[dict[str, float], Discretization, Formulation]:
    """Physics parameters, discretization and formulation of a model document."""
    physics = _require(doc, "physics", dict, where)
    for k, v in physics.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ModelFileError(f"physics.{k}: expected a number in '{where}', got {v!r}")
    disc = _require(doc, "discretization", dict, where)
    try:
        discretization = Discretization(nfe=int(disc["nfe"]), ncp=int(disc["ncp"]))
    except (KeyError, TypeError, ValueError, DataError) as err:
        raise ModelFileError(f"discretization: invalid in '{where}' ({err})") from None
    try:
        formulation = Formulation(doc.get("formulation", Formulation.NESTED.value))
    except ValueError:
        raise ModelFileError(f"formulation: {doc.get('formulation')!r} in '{where}' is not one of "
                             f"{[f.value for f in Formulation]}") from None
    return {k: float(v) for k, v in physics.items()}, discretization, formulation


def _read_network(doc: Mapping, where: str, inputs: list[str], learned: list[str]) -> NetworkSpec:
    """The network of a model document, checked against its names and normalization."""
    network = _require(doc, "network", dict, where)
    try:
        spec = NetworkSpec.from_dict(network)
    except (NetworkConfigError, TypeError, ValueError) as err:
        raise ModelFileError(f"network: invalid in '{where}': {err}") from None
    if spec.n_inputs != len(inputs) or spec.n_outputs != len(learned):
        raise ModelFileError(f"network: sizes {spec.sizes} do not match network_inputs {inputs} "
                             f"and learned_names {learned} in '{where}'")
    norm = _require(doc, "normalization", dict, where)
    if to_jsonable(norm) != _normalization(spec, inputs, learned):
        raise ModelFileError(f"normalization: does not match the network's normalization in '{where}'")
    return spec


def load_model(directory: str | Path, accept_edited: bool = False) -> SavedModel:
    """Read a model saved by :func:`save_model`.

    Parameters
    ----------
    directory : str or pathlib.Path
        Saved-model directory (or the ``model.json`` file itself).
    accept_edited : bool
        Use a file whose contents do not match its checksum (with a warning) instead
        of refusing it.

    Returns
    -------
    SavedModel

    Raises
    ------
    ModelFileError
        Missing or unreadable file, invalid JSON, another major or a newer minor
        format version, a newer idaes-hybrid, a missing or invalid field or a
        non-finite number (named in the message), or contents that do not match
        their checksum.
    """
    path = _model_file(directory)
    where = str(path)
    doc = _read_document(path)
    version = _check_version(doc, where)
    check_writer_version(doc, where)
    for key in REQUIRED_FIELDS:
        if key not in doc:
            raise ModelFileError(f"{key}: required field missing in '{where}'")
    bad = first_non_finite(doc, "")
    if bad:
        raise ModelFileError(f"{bad}: not a finite number (NaN or infinite) in '{where}'")
    model_name = _require(doc, "model", str, where)
    inputs, learned = _names(doc, "network_inputs", where), _names(doc, "learned_names", where)
    physics, discretization, formulation = _read_settings(doc, where)
    spec = _read_network(doc, where, inputs, learned)
    metrics = doc["metrics"]
    if metrics is not None and not isinstance(metrics, dict):
        raise ModelFileError(f"metrics: expected an object or null in '{where}', got {metrics!r}")
    verify_checksum(doc, where, accept_edited)
    box = None
    if doc.get("input_box") is not None:
        try:
            box = InputBox.from_dict(doc["input_box"], spec.n_inputs)
        except InputBoxError as err:
            raise ModelFileError(f"{err} in '{where}'") from None
    return SavedModel(
        directory=path.parent, model_name=model_name, network_inputs=inputs,
        learned_names=learned, physics=physics,
        discretization=discretization, formulation=formulation, spec=spec, metrics=metrics,
        training_data=_require(doc, "training_data", dict, where),
        versions=_require(doc, "versions", dict, where), format_version=version,
        created=doc.get("created"),
        uncertainty=doc["uncertainty"] if isinstance(doc.get("uncertainty"), dict) else None,
        input_box=box, model_ref=_optional_str(doc, "model_ref", where))

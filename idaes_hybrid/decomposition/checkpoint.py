"""Checkpoints of a decomposition run: written after every epoch, read to resume.

A checkpoint directory holds ``checkpoint.json`` (epoch, best validation loss,
history, the network with its normalization, and a fingerprint of the run) and
``checkpoint-<epoch>.npz`` (current and best weights, Adam's moments, every
experiment's last inner solution for warm starts), which the JSON names. The
arrays are written first under a new name, then the JSON is replaced atomically
(written beside, then renamed), then older arrays are removed: a run killed at any
moment leaves a consistent checkpoint.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from idaes_hybrid.decomposition.inner import WarmPoint
from idaes_hybrid.nn.network import NetworkSpec

#: Version of the checkpoint layout.
FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint does not belong to this run or cannot be read."""


@dataclass
class OuterState:
    """Everything the outer loop needs to continue where it stopped."""

    epoch: int
    theta: np.ndarray
    best_theta: np.ndarray
    best_loss: float
    bad_epochs: int
    network: NetworkSpec
    fingerprint: dict
    adam_m: np.ndarray | None = None
    adam_v: np.ndarray | None = None
    adam_t: int = 0
    history: list[dict] = field(default_factory=list)
    warm: dict[str, WarmPoint] = field(default_factory=dict)
    elapsed_s: float = 0.0
    stage: int = 0


def fingerprint(network: NetworkSpec, train_names: list[str], optimizer: str) -> dict:
    """What must match for a checkpoint to continue a run."""
    return {"sizes": [int(s) for s in network.sizes],
            "activations": [a.value for a in network.activations],
            "experiments": sorted(train_names), "optimizer": optimizer}


def _replace(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save(directory: str | Path, state: OuterState) -> None:
    """Write ``state`` to ``directory`` (created if missing)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    arrays = {"theta": state.theta, "best_theta": state.best_theta}
    if state.adam_m is not None:
        arrays.update(adam_m=state.adam_m, adam_v=state.adam_v)
    for name, w in state.warm.items():
        for part in ("x", "lam", "zl", "zu"):
            arrays[f"warm::{name}::{part}"] = getattr(w, part)

    def write_npz(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    npz = f"checkpoint-{state.epoch}.npz"
    _replace(d / npz, write_npz)
    meta = {"format": FORMAT, "arrays": npz, "epoch": state.epoch, "best_loss": state.best_loss,
            "bad_epochs": state.bad_epochs, "adam_t": state.adam_t, "elapsed_s": state.elapsed_s, "stage": state.stage,
            "fingerprint": state.fingerprint, "network": state.network.to_dict(),
            "history": state.history}
    _replace(d / "checkpoint.json", lambda tmp: tmp.write_text(json.dumps(meta, indent=1)))
    for old in d.glob("checkpoint-*.npz"):
        if old.name != npz:
            old.unlink(missing_ok=True)


def load(directory: str | Path, expected: dict | None = None) -> OuterState | None:
    """The checkpoint in ``directory``, or ``None`` if there is none.

    Raises
    ------
    CheckpointError
        If the checkpoint is unreadable or its fingerprint differs from ``expected``.
    """
    d = Path(directory)
    if not (d / "checkpoint.json").exists():
        return None
    field_name = f"decomposition.checkpoint_dir ({d})"
    try:
        meta = json.loads((d / "checkpoint.json").read_text())
        data = np.load(d / meta["arrays"])
    except (OSError, ValueError, KeyError) as err:
        raise CheckpointError(f"{field_name}: cannot read checkpoint: {err}") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{field_name}: checkpoint format {meta.get('format')!r}, expected {FORMAT}")
    if expected is not None:
        for key, value in expected.items():
            if meta["fingerprint"].get(key) != value:
                raise CheckpointError(
                    f"{field_name}: the checkpoint belongs to another run ({key}: "
                    f"{meta['fingerprint'].get(key)!r} there, {value!r} here); "
                    "remove it or set decomposition.resume = false")
    warm: dict[str, dict] = {}
    for key in data.files:
        if key.startswith("warm::"):
            name, part = key[len("warm::"):].rsplit("::", 1)
            warm.setdefault(name, {})[part] = data[key]
    return OuterState(
        epoch=int(meta["epoch"]), theta=data["theta"], best_theta=data["best_theta"],
        best_loss=float(meta["best_loss"]), bad_epochs=int(meta["bad_epochs"]),
        network=NetworkSpec.from_dict(meta["network"]), fingerprint=meta["fingerprint"],
        adam_m=data["adam_m"] if "adam_m" in data.files else None,
        adam_v=data["adam_v"] if "adam_v" in data.files else None, adam_t=int(meta["adam_t"]),
        history=list(meta["history"]), warm={k: WarmPoint(**v) for k, v in warm.items()},
        elapsed_s=float(meta.get("elapsed_s", 0.0)), stage=int(meta.get("stage", 0)))

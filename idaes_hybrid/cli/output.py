"""How the command line writes its results: nothing lost, nothing half-written.

Every command checks its output path before any work (:func:`check_out_dir`,
:func:`check_out_file`), refusing an ``--out`` that is or holds one of its inputs
(the saved model, the config). Results are written to a hidden sibling
``.<out>.partial-<pid>-*`` and then swapped in whole (:func:`write_staged`): the
old ``<out>`` is renamed aside, the new one renamed in, the old one removed.
Interrupts (Ctrl-C, SIGTERM) are held back during the swap, so a run killed at any
moment leaves the old output or the new one, plus at most hidden debris that the
next run on the same ``--out`` cleans (or restores) with a warning
(:func:`recover_interrupted`). Files of an existing ``<out>`` that no command
writes (notes, a ``sentinel.txt``) are kept; outputs of an earlier run that this
run does not write again (a stale ``report.md``) are not.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterable, Iterator

from idaes_hybrid.solve.fd_capture import captured_fd

#: Names the commands write in an output directory; an earlier run's are replaced.
OUTPUT_NAMES = frozenset({
    "metrics.json", "model", "fit.png", "learned_rate.png", "report.md", "optimization.json",
    "feed_profiles.png", "estimate.json", "estimate.png", "learned_term.png", "validation.png",
    "profiles.png"})

_log = logging.getLogger("idaes.idaes_hybrid.cli")


class OutputPathError(ValueError):
    """An unusable ``--out``; the message starts with ``--out:``."""


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM received; ``signum`` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# ----------------------------------------------------------------------------- signals
def _raise_interrupted(signum: int, frame) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` (a ``KeyboardInterrupt``) while
    inside; SIGTERM from a scheduler or ``kill`` is then handled as Ctrl-C is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while inside (C code that must not be cut, e.g. an
    import or a rename pair); one that arrived is raised as :class:`Interrupted` after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    saved = {s: signal.signal(s, lambda signum, frame: received.append(signum))
             for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
    if received:
        raise Interrupted(received[0])


def import_tensorflow(quiet: bool) -> None:
    """Import TensorFlow and Keras now, with interrupts held back (a Ctrl-C inside
    TensorFlow's import would be swallowed) and without its C++ start-up lines on stderr
    (shown anyway if the import fails; ``TF_CPP_MIN_LOG_LEVEL`` set by the user is kept
    unless ``quiet``)."""
    if quiet:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with interrupts_deferred():
        hide = captured_fd(2)
        failed = None
        with hide as captured:
            try:
                import keras  # noqa: F401
                import tensorflow  # noqa: F401
            except Exception as err:  # noqa: BLE001 - pre-training reports it when it runs
                failed = err
        if failed is not None:
            sys.stderr.write(captured[0] if captured else "")
            _log.debug(f"TensorFlow not imported up front: {failed}")


def import_tensorflow_if_needed(training, quiet: bool) -> None:
    """:func:`import_tensorflow`, only when the run pre-trains with Keras
    (``training.pretrain_backend`` is ``"keras"``); the default numpy backend does
    not need TensorFlow, whose import costs several seconds."""
    from idaes_hybrid.training.pretrain import PretrainBackend

    if training.pretrain_backend is PretrainBackend.KERAS:
        import_tensorflow(quiet)


# ----------------------------------------------------------------------------- checks
def _inside(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def _overwritten(path: Path, out: Path, what: str) -> bool:
    """Whether writing ``out`` whole would replace ``path``: the input model anywhere in it;
    another input (a config beside the results) only where an output of ours goes."""
    if not _inside(path, out):
        return False
    if what == "input model" or path == out:
        return True
    return path.relative_to(out).parts[0] in OUTPUT_NAMES


def refuse_overlap(out: Path, inputs: Iterable[tuple[str, Path | str | None]]) -> None:
    """Refuse an ``--out`` that is or holds the input model, that would overwrite another
    input (a config named like an output), or that lies in a saved model's directory.
    Other files in ``--out`` (a config, data) are kept when it is replaced."""
    for what, path in inputs:
        if path is None:
            continue
        path = Path(path).expanduser().resolve()
        if _overwritten(path, out, what):
            raise OutputPathError(f"--out: '{out}' is or holds the {what} '{path}'; writing there "
                                  "would replace it; choose another directory")
        if what == "input model" and path.is_dir() and _inside(out, path):
            raise OutputPathError(f"--out: '{out}' lies inside the {what} '{path}'; "
                                  "choose a directory outside it")


def _writable_parent(out: Path) -> None:
    parent = next((p for p in out.parents if p.exists()), None)
    if parent is None or not parent.is_dir():
        raise OutputPathError(f"--out: cannot create '{out}': '{parent}' is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"--out: cannot create or write to '{out}' ('{parent}' is not "
                              "writable)")


def check_out_dir(out: Path, inputs: Iterable[tuple[str, Path | str | None]] = ()) -> None:
    """Check an output directory before any work; clean debris of interrupted runs.

    Parameters
    ----------
    out : pathlib.Path
        The resolved ``--out`` directory.
    inputs : iterable of (str, path)
        Inputs it must not be or hold, e.g. ``[("input model", model_dir)]``.

    Raises
    ------
    OutputPathError
        Message starting with ``--out:``.
    """
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"--out: '{out}' exists and is not a directory")
    refuse_overlap(out, inputs)
    if out.is_dir() and not os.access(out, os.W_OK | os.X_OK):
        raise OutputPathError(f"--out: '{out}' is not writable")
    _writable_parent(out)
    recover_interrupted(out)


def check_out_file(out: Path, inputs: Iterable[tuple[str, Path | str | None]] = ()) -> None:
    """Check an output file (``predict --out FILE.csv``) before any work.

    Raises
    ------
    OutputPathError
        ``out`` is a directory, is or lies in an input, or cannot be created.
    """
    if out.is_dir():
        raise OutputPathError(f"--out: '{out}' is a directory; give a CSV file name")
    refuse_overlap(out, inputs)
    if out.exists() and not os.access(out, os.W_OK):
        raise OutputPathError(f"--out: '{out}' is not writable")
    _writable_parent(out)
    for debris in out.parent.glob(f".{out.name}.*.tmp"):
        _remove_debris(debris, "an unfinished temporary file")


# ----------------------------------------------------------------------------- debris
_PID = re.compile(r"\.(?:partial|old)-(\d+)-")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(path: Path) -> bool:
    match = _PID.search(path.name)
    return match is None or not _alive(int(match.group(1)))


def _remove_debris(path: Path, what: str) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    _log.warning(f"removed {what} left by an interrupted run: '{path}'")


def recover_interrupted(out: Path) -> None:
    """Clean what an interrupted run left next to ``out``: ``.<out>.partial-*`` folders
    are removed; a ``.<out>.old-*`` folder is put back if ``out`` is missing (the run was
    killed in the middle of its swap), else removed. Folders of running processes stay."""
    if not out.parent.is_dir():
        return
    for old in sorted(out.parent.glob(f".{out.name}.old-*")):
        if not _stale(old):
            continue
        if not out.exists():
            os.replace(old, out)
            _log.warning(f"restored the previous output '{out}' from '{old.name}', left by a run "
                         "killed while replacing it")
        else:
            _remove_debris(old, "the previous output")
    for partial in sorted(out.parent.glob(f".{out.name}.partial-*")):
        if _stale(partial):
            _remove_debris(partial, "a half-written output folder")


# ----------------------------------------------------------------------------- writing
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _keep_user_files(out: Path, staging: Path) -> None:
    """Link (or copy) the entries of ``out`` that no command writes into ``staging``."""
    for entry in sorted(out.iterdir()):
        dest = staging / entry.name
        if entry.name in OUTPUT_NAMES or dest.exists() or entry.name.startswith("."):
            continue
        if entry.is_symlink():
            os.symlink(os.readlink(entry), dest)
        elif entry.is_dir():
            shutil.copytree(entry, dest, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(entry, dest)


def _link_or_copy(src, dest) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def write_staged(out: Path, write: Callable[[Path], None]) -> list[Path]:
    """Run ``write(dir)`` on a hidden sibling of ``out``, then swap it in whole.

    Parameters
    ----------
    out : pathlib.Path
        The output directory (created if missing).
    write : callable
        Writes the results into the directory it is given.

    Returns
    -------
    list[pathlib.Path]
        The entries written (in ``out``), sorted.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-"
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-{tag}"))
    try:
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; it becomes --out
        write(staging)
        written = sorted(p.name for p in staging.iterdir())
        old = None
        if out.exists():
            _keep_user_files(out, staging)
            old = out.with_name(f".{out.name}.old-{tag}{secrets.token_hex(4)}")
        with interrupts_deferred():  # the two renames are never separated by an interrupt
            if old is not None:
                os.replace(out, old)
            os.replace(staging, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return [out / name for name in written]
    finally:
        shutil.rmtree(staging, ignore_errors=True)

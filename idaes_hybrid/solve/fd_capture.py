"""Capture what C code writes on a file descriptor (Ipopt's banner on stdout,
TensorFlow's start-up lines on stderr), which ``contextlib.redirect_*`` cannot."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
from typing import Iterator


def flush_c_streams() -> None:
    """Flush Python's and the C library's buffered output."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # pragma: no cover - no C library handle
        pass


@contextlib.contextmanager
def captured_fd(fd: int) -> Iterator[list[str]]:
    """Send what is written on ``fd`` (1 or 2) to a buffer; its text is appended to the
    yielded list when the block ends."""
    flush_c_streams()
    saved = os.dup(fd)
    captured: list[str] = []
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield captured
        finally:
            flush_c_streams()
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            captured.append(tmp.read().decode("utf-8", errors="replace"))

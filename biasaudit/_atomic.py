"""Atomic file writes: a reader never sees half a report, and a failed run leaves no debris.

The data go to a temporary file beside the target, which is flushed, synced and renamed over it.
The temporary file is removed on any failure, on Ctrl-C (SIGINT), and also on SIGTERM and SIGHUP:
while a write is in progress those signals, when they still have their default action, raise
``SystemExit(128 + signal)`` so that the clean-up runs and the process ends with the usual status.
"""
from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from pathlib import Path

__all__ = ["atomic_write_text", "atomic_write_bytes", "cleanup_on_signals"]

_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def cleanup_on_signals():
    """Within the block, SIGTERM and SIGHUP (left at their default action) unwind like SIGINT does.

    Only in the main thread (where Python delivers signals); handlers set by the application
    are left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {}
    for sig in _SIGNALS:
        if signal.getsignal(sig) is signal.SIG_DFL:
            old[sig] = signal.signal(sig, _raise_exit)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def atomic_write_bytes(path, data: bytes) -> None:
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a file name for the report.")
    path.parent.mkdir(parents=True, exist_ok=True)
    with cleanup_on_signals():
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))

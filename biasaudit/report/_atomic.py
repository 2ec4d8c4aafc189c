"""Atomic report writes (the implementation lives in :mod:`biasaudit._atomic`, usable by every layer)."""
from .._atomic import atomic_write_bytes, atomic_write_text, cleanup_on_signals

__all__ = ["atomic_write_text", "atomic_write_bytes", "cleanup_on_signals"]

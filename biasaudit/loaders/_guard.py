"""A bounded reader: every byte a table file yields is counted against the limits in force.

:func:`open_bounded` opens a file (plain, gzip, bz2, xz or a one-member zip) for binary reading
and stops with a one-line :class:`BoundError` as soon as the stream

* decompresses to more than ``decompressed_bytes``, or to more than ``decompression_ratio``
  times the compressed size once past ``ratio_floor_bytes`` (a compression bomb), or
* holds a line longer than ``line_bytes`` (a cell of gigabytes the parser would hold whole).

The bytes are streamed: nothing is decompressed ahead of the reader.  The checks cost two
``bytes.find`` calls per buffer (about 1 MiB), not a loop over lines.
:func:`decompressed_size` tells the engine chooser how large the data are once decompressed (the
gzip trailer or the zip directory), or None when the format does not say (bz2, xz): stream then.
"""
from __future__ import annotations

import io
import os
import struct
from pathlib import Path

from ..errors import InputFileError
from ..limits import current, limit_hint

__all__ = ["BoundError", "open_bounded", "decompressed_size", "BUFFER_BYTES"]

#: Bytes read from the decompressor per call.
BUFFER_BYTES = 1 << 20
#: Largest ratio deflate reaches (about 1032:1): below 4 GiB / 1032 compressed, the gzip trailer is exact.
_DEFLATE_MAX_RATIO = 1032


class BoundError(InputFileError):
    """A file exceeds one of the limits of :mod:`biasaudit.limits`."""


def _fmt_bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{int(n)} bytes"


class _Bounded(io.RawIOBase):
    """Raw stream over ``inner`` counting bytes and line lengths (see the module docstring)."""

    def __init__(self, inner, path: Path, compressed_size: int | None, limits=None, compression=None):
        super().__init__()
        self._inner = inner
        self._path = path
        self._compressed = compressed_size
        self._compression = compression
        self._limits = limits if limits is not None else current()
        self._total = 0
        self._line = 0  # bytes since the last newline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            n = self._inner.readinto(buffer)
        except _DAMAGED as exc:
            raise _damaged(self._path, self._compression, exc) from exc
        if not n:
            return 0
        self._count(bytes(memoryview(buffer)[:n]))
        return n

    def _count(self, chunk: bytes) -> None:
        lim = self._limits
        self._total += len(chunk)
        if self._compressed is not None:
            if self._total > lim.decompressed_bytes:
                raise BoundError(
                    f"{self._path} decompresses to more than {_fmt_bytes(lim.decompressed_bytes)}: refused as too "
                    f"large to read; {limit_hint('decompressed_bytes', lim.decompressed_bytes)}.")
            ratio = self._total / max(1, self._compressed)
            if self._total > lim.ratio_floor_bytes and ratio > lim.decompression_ratio:
                raise BoundError(
                    f"{self._path} decompresses to over {lim.decompression_ratio:g} times its size "
                    f"({_fmt_bytes(self._compressed)} -> {_fmt_bytes(self._total)} so far): refused as a possible "
                    f"compression bomb; {limit_hint('decompression_ratio', lim.decompression_ratio)}.")
        first = chunk.find(b"\n")
        if first < 0:
            self._line += len(chunk)
            longest = self._line
        else:
            longest = self._line + first
            self._line = len(chunk) - chunk.rfind(b"\n") - 1
        if longest > lim.line_bytes:
            raise BoundError(
                f"{self._path} has a line longer than {_fmt_bytes(lim.line_bytes)} (near byte "
                f"{self._total - len(chunk) + max(first, 0):,}): refused rather than held whole; "
                f"{limit_hint('line_bytes', lim.line_bytes)}.")

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


def _damaged_types() -> tuple:
    import lzma
    import zipfile
    import zlib
    return (EOFError, lzma.LZMAError, zipfile.BadZipFile, zlib.error, OSError)


_DAMAGED = _damaged_types()


def _damaged(path: Path, compression: str | None, exc: BaseException) -> InputFileError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    what = f"{compression} data" if compression else "file"
    return InputFileError(f"Cannot read {path}: {first} (damaged or not {what}). Check the file.")


def _open_inner(path: Path, compression: str | None):
    if compression is None:
        return open(path, "rb", buffering=0)
    if compression == "gzip":
        import gzip
        return gzip.open(path, "rb")
    if compression == "bz2":
        import bz2
        return bz2.open(path, "rb")
    if compression == "xz":
        import lzma
        return lzma.open(path, "rb")
    if compression == "zip":
        import zipfile
        zf = zipfile.ZipFile(path)
        names = [n for n in zf.namelist() if not n.endswith("/")]
        if len(names) != 1:
            zf.close()
            raise InputFileError(f"{path} holds {len(names)} files; a zipped table must hold exactly one.")
        return _ZipMember(zf, zf.open(names[0]))
    raise InputFileError(f"Unknown compression {compression!r} for {path}.")


class _ZipMember(io.RawIOBase):
    """A zip member that closes its archive with it."""

    def __init__(self, zf, member):
        super().__init__()
        self._zf, self._member = zf, member

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._member.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._member.close()
            self._zf.close()
        finally:
            super().close()


def open_bounded(path, compression: str | None = None, *, limits=None, buffer_size: int = BUFFER_BYTES):
    """A buffered binary stream of ``path`` (decompressed) that enforces the limits in force.

    Parameters
    ----------
    path : path-like
    compression : {None, "gzip", "bz2", "xz", "zip"}
    limits : Limits, optional
        Default: the limits in force where the stream is opened (pass them explicitly when the
        stream is read or opened in another thread: context variables do not cross threads).

    Raises
    ------
    BoundError
        While reading, when a limit is exceeded (one line naming the file, the limit and the fix).
    """
    path = Path(os.fspath(path))
    try:
        inner = _open_inner(path, compression)
    except InputFileError:
        raise
    except _DAMAGED as exc:
        if isinstance(exc, OSError) and getattr(exc, "filename", None):  # not found, no permission: as it is
            raise
        raise _damaged(path, compression, exc) from exc
    size = path.stat().st_size if compression is not None else None
    return io.BufferedReader(_Bounded(inner, path, size, limits, compression), buffer_size=buffer_size)


def decompressed_size(path, compression: str | None) -> int | None:
    """Bytes of ``path`` once decompressed, when the format records it reliably; else None.

    Plain files: their size.  gzip: the ISIZE trailer (size modulo 2**32, so trusted only when
    the compressed file is small enough that deflate cannot exceed 4 GiB).  zip: the size in the
    central directory.  bz2, xz: None (unknown: stream).  A size that lies is still caught by the
    bounded reader.
    """
    path = Path(os.fspath(path))
    size = path.stat().st_size
    if compression is None:
        return size
    try:
        if compression == "gzip":
            if size < 18 or size * _DEFLATE_MAX_RATIO >= 1 << 32:
                return None
            with open(path, "rb") as fh:
                fh.seek(-4, os.SEEK_END)
                return struct.unpack("<I", fh.read(4))[0]
        if compression == "zip":
            import zipfile
            with zipfile.ZipFile(path) as zf:
                return sum(i.file_size for i in zf.infolist())
    except (OSError, ValueError, struct.error):
        return None
    return None

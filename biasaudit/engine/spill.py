"""Where the engine's chunks go between its passes: the stored codes and the seeded row sample.

* :class:`Spill`: the compact codes of pass one, one file per column in a temporary folder (a file
  source), read back by later passes in chunks of any size; :class:`MemorySpill` keeps them in
  memory (a DataFrame source).
* :class:`Sample`: a seeded bottom-k row sample (one uniform key per row, drawn from a PCG64
  stream advanced to the row's position, so the sample does not depend on the chunking).
* :func:`prefetch`: reading and dictionary-encoding run in a background thread.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np

__all__ = ["Spill", "MemorySpill", "Sample", "prefetch", "sample_keys"]

_SAMPLE_SEED_OFFSET = 0x5A3C


@dataclass
class Sample:
    """Bottom-k sample: the rows with the ``size`` smallest uniform keys (compacted lazily)."""

    size: int
    keys: np.ndarray = field(default_factory=lambda: np.empty(0))
    rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    cols: dict = field(default_factory=dict)
    pending: list = field(default_factory=list)
    n_pending: int = 0
    _limit: float = np.inf

    def threshold(self) -> float:
        """Keys at or above this cannot enter the sample (an upper bound between compactions)."""
        return self._limit

    def add(self, keys: np.ndarray, rows: np.ndarray, cols: dict) -> None:
        if len(keys) == 0:
            return
        self.pending.append((keys, rows, cols))
        self.n_pending += len(keys)
        if len(self.keys) + self.n_pending > 2 * max(self.size, 1 << 12):
            self.compact()

    def compact(self) -> None:
        if not self.pending:
            return
        parts = [(self.keys, self.rows, self.cols)] + self.pending if len(self.keys) else self.pending
        self.keys = np.concatenate([p[0] for p in parts])
        self.rows = np.concatenate([p[1] for p in parts])
        names = list(parts[-1][2])
        cols = {}
        for c in names:
            arrs = [p[2][c] for p in parts]
            if len({a.dtype for a in arrs}) > 1:  # numbers in one part, objects in another
                arrs = [a.astype(object) for a in arrs]
            cols[c] = np.concatenate(arrs)
        self.cols = cols
        self.pending, self.n_pending = [], 0
        if len(self.keys) > self.size:
            keep = np.argpartition(self.keys, self.size - 1)[:self.size] if self.size else np.empty(0, int)
            self.keys, self.rows = self.keys[keep], self.rows[keep]
            self.cols = {c: v[keep] for c, v in self.cols.items()}
        if len(self.keys) >= self.size:
            self._limit = float(self.keys.max()) if self.size else -np.inf

    def ordered(self) -> "Sample":
        self.compact()
        o = np.argsort(self.rows, kind="stable")
        return Sample(self.size, self.keys[o], self.rows[o], {c: v[o] for c, v in self.cols.items()})


class MemorySpill:
    """The stored rows of pass one kept in memory, chunk by chunk (a DataFrame source: no files)."""

    def __init__(self) -> None:
        self.parts: dict = {}
        self.chunks: list = []

    def write(self, col: str, arr: np.ndarray) -> None:
        self.parts.setdefault(col, []).append(arr)

    def convert(self, col: str, fn: Callable[[np.ndarray], np.ndarray] | None) -> None:
        if col not in self.parts:
            return
        if fn is None:
            del self.parts[col]
            return
        self.parts[col] = [fn(a) for a in self.parts[col]]

    def read_chunks(self, cols: Iterable[str], rows: int | None = None) -> Iterator[tuple[int, dict]]:
        """The stored columns chunk by chunk (as written)."""
        cols = [c for c in cols if c in self.parts]
        for i, m in enumerate(self.chunks):
            yield m, {c: self.parts[c][i] for c in cols}

    def close(self) -> None:
        self.parts = {}


class Spill:
    """One file per column in a temporary folder: uint16 codes, float64 numbers or uint64 hashes."""

    def __init__(self, root: str | None = None) -> None:
        self.dir = tempfile.mkdtemp(prefix="biasaudit-stream-", dir=root)
        self.files: dict = {}
        self.dtype: dict = {}
        self.chunks: list = []

    def write(self, col: str, arr: np.ndarray) -> None:
        if col not in self.files:
            self.files[col] = open(os.path.join(self.dir, f"c{len(self.files)}.bin"), "wb")
            self.dtype[col] = arr.dtype
        self.files[col].write(np.ascontiguousarray(arr).tobytes())

    def convert(self, col: str, fn: Callable[[np.ndarray], np.ndarray] | None) -> None:
        """Rewrite a column (e.g. uint16 codes -> float64 numbers); None drops it."""
        if col not in self.files:
            return
        fh = self.files.pop(col)
        fh.close()
        old, dt = fh.name, self.dtype.pop(col)
        if fn is None:
            os.remove(old)
            return
        new = old + ".new"
        with open(old, "rb") as src, open(new, "wb") as dst:
            while True:
                buf = src.read(dt.itemsize * (1 << 20))
                if not buf:
                    break
                out = fn(np.frombuffer(buf, dtype=dt))
                self.dtype[col] = out.dtype
                dst.write(out.tobytes())
        os.replace(new, old)
        self.files[col] = open(old, "ab")
        self.dtype.setdefault(col, np.dtype("float64"))

    def read_chunks(self, cols: Iterable[str], rows: int | None = None) -> Iterator[tuple[int, dict]]:
        """The spilled columns ``rows`` rows at a time (whatever the chunks they were written in)."""
        rows = rows or (1 << 20)
        cols = [c for c in cols if c in self.files]
        for fh in self.files.values():
            fh.flush()
        handles = {c: open(self.files[c].name, "rb") for c in cols}
        total = sum(self.chunks)
        try:
            for start in range(0, total, rows):
                m = min(rows, total - start)
                yield m, {c: np.frombuffer(h.read(m * self.dtype[c].itemsize), dtype=self.dtype[c])
                          for c, h in handles.items()}
        finally:
            for h in handles.values():
                h.close()

    def close(self) -> None:
        for fh in self.files.values():
            fh.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def prefetch(iterator: Iterator, depth: int = 2) -> Iterator:
    """Run ``iterator`` (reading and dictionary-encoding, which release the GIL) in a background thread."""
    import queue
    import threading
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work():
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    t = threading.Thread(target=work, name="biasaudit-reader", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        t.join(timeout=5)


def sample_keys(seed: int, start: int, m: int) -> np.ndarray:
    """Uniform keys of rows start .. start+m-1 of the whole table (independent of the chunking)."""
    bg = np.random.PCG64(np.random.SeedSequence([int(seed), _SAMPLE_SEED_OFFSET]))
    if start:
        bg.advance(start)
    return np.random.Generator(bg).random(m)

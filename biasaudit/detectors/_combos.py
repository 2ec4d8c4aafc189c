"""Attribute combinations (k = 2 or 3) and their coverage tests without the label, from count tables.

For each combination table the cells whose sub-combinations all occur are gathered
(:func:`gather`), and all of them are tested at once (:func:`test_all`): item j against the rest
of the combination, :math:`X_j \\sim \\mathrm{Hypergeom}(n, n_j, n_{C \\setminus j})`, exact lower
tail, the largest p over j (for k = 2 the two splits are the same test). See
:mod:`biasaudit.detectors._coverage` for the statistics and the wording.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import stats

__all__ = ["Combination", "gather", "test_all"]


@dataclass(frozen=True)
class Combination:
    """A combination of attribute values (k = 2 or 3) and its coverage test, without the label.

    ``observed`` rows where ``expected = n * prod(p_i)`` were expected under independence. The test
    (:func:`test_all`) is the exact hypergeometric lower tail
    given the margins; for k = 3 one item against the pair of the others, for each item, and the
    largest p (intersection-union).
    """

    items: tuple
    observed: int
    expected: float
    margins: tuple          # rows with each item
    parent_support: tuple   # rows with all items but item j
    p_value: float
    p_min: float
    e_parts: tuple          # expected count of each split j: n_j * parent_support_j / n
    p_parts: tuple
    binding: int            # the split with the largest p
    rank: tuple

    @property
    def k(self) -> int:
        return len(self.items)

    @property
    def key(self) -> str:
        return ",".join(f"{a}={v}" for a, v in self.items)

    @property
    def text(self) -> str:
        return " and ".join(f"{a}={v}" for a, v in self.items)

    @property
    def e_binding(self) -> float:
        return self.e_parts[self.binding]

    @property
    def ratio(self) -> float:
        e = self.e_binding
        return float(self.observed / e) if e > 0 else 1.0


def gather(t, combo, support, valid, parent_support, n, base_rank, item_counts) -> dict | None:
    """Raw counts of every attribute combination whose sub-combinations all occur (k >= 2)."""
    k = len(combo)
    margins = []
    for j, a in enumerate(combo):
        shape = [1] * k
        shape[j] = -1
        m = np.array([item_counts.get((a, lv), 0) for lv in t.levels[j]], dtype=np.int64).reshape(shape)
        margins.append(np.broadcast_to(m, support.shape))
    ok = valid.copy()
    for m in margins:
        ok &= m > 0
    for ps in parent_support:
        ok &= ps > 0
    idx = np.nonzero(ok)
    if not idx[0].size:
        return None
    return {"combo": combo, "levels": t.levels, "idx": np.stack(idx, axis=1), "obs": support[idx],
            "items": np.stack([m[idx] for m in margins], axis=1),
            "rest": np.stack([ps[idx] for ps in parent_support], axis=1), "rank": base_rank}


def test_all(raw: list, n: int, alpha: float) -> list:
    r"""Coverage tests of all gathered combinations at once (vectorised over every cell of every table).

    Split j of a cell puts item j against the rest of the combination (for k = 2 the other item):
    :math:`X_j \sim \mathrm{Hypergeom}(n, n_j, n_{C \setminus j})`; p is the largest lower tail.
    Records are made for the testable cells (p_min <= alpha), the depleted ones (obs/E <= 0.5 with
    E >= 0.5) and the empty ones; the others can be neither a finding nor a hypothesis.
    """
    out = []
    for k in (2, 3):
        part = [r for r in raw if r is not None and len(r["combo"]) == k]
        if not part:
            continue
        obs = np.concatenate([r["obs"] for r in part])
        items = np.concatenate([r["items"] for r in part])
        rest = np.concatenate([r["rest"] for r in part])
        if k == 2:   # a versus b and b versus a: one test
            p_parts = np.repeat(stats.hypergeom_cdf(obs, n, items[:, 0], rest[:, 0])[:, None], 2, axis=1)
        else:
            p_parts = stats.hypergeom_cdf(obs[:, None], n, items, rest)            # (cells, k)
        e_parts = items * rest / n
        low = np.maximum(0, items + rest - n).max(axis=1)
        pmin = stats.hypergeom_cdf(low[:, None], n, items, rest).max(axis=1)
        p = p_parts.max(axis=1)
        binding = p_parts.argmax(axis=1)
        expected = n * np.prod(items / n, axis=1)
        e_bind = e_parts[np.arange(obs.size), binding]
        keep = (pmin <= alpha) | (obs == 0) | ((obs <= 0.5 * e_bind) & (e_bind >= 0.5))
        r0 = 0
        for r in part:
            combo, levels = r["combo"], r["levels"]
            for row in np.flatnonzero(keep[r0:r0 + r["obs"].size]):
                i = r0 + row
                cell = tuple(int(x) for x in r["idx"][row])
                out.append(Combination(
                    items=tuple((a, levels[j][cell[j]]) for j, a in enumerate(combo)), observed=int(obs[i]),
                    expected=float(expected[i]), margins=tuple(int(x) for x in items[i]),
                    parent_support=tuple(int(x) for x in rest[i]), p_value=float(min(1.0, p[i])),
                    p_min=float(min(1.0, pmin[i])), e_parts=tuple(float(x) for x in e_parts[i]),
                    p_parts=tuple(float(x) for x in p_parts[i]), binding=int(binding[i]),
                    rank=r["rank"] + (cell,)))
            r0 += r["obs"].size
    return out

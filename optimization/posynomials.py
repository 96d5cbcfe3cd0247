"""Posynomials in log space as sparse tables: one source for the CVXPY model and its numpy evaluation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass
class Layout:
    """Where each named block of log-variables sits in the stacked vector z."""

    sizes: dict[str, int]

    def __post_init__(self) -> None:
        self.slices: dict[str, slice] = {}
        start = 0
        for name, size in self.sizes.items():
            self.slices[name] = slice(start, start + size)
            start += size
        self.size = start

    def __contains__(self, name: str) -> bool:
        return name in self.slices

    def index(self, name: str, idx: np.ndarray | None = None) -> np.ndarray:
        """Positions in z of block `name` (all of it, or the entries `idx`)."""
        sl = self.slices[name]
        base = np.arange(sl.start, sl.stop)
        return base if idx is None else base[np.asarray(idx)]


@dataclass
class Table:
    """Monomial terms exp(coef + matrix @ z), summed within `group` (a posynomial per group)."""

    coef: np.ndarray
    matrix: sp.csr_matrix
    group: np.ndarray
    num_groups: int

    def log_terms(self, z: np.ndarray) -> np.ndarray:
        """Log of every term at z."""
        return self.coef + self.matrix @ z

    def group_sums(self, z: np.ndarray) -> np.ndarray:
        """Value of every group's posynomial at z."""
        return np.bincount(self.group, weights=np.exp(self.log_terms(z)), minlength=self.num_groups)

    def group_sums_many(self, zs: np.ndarray) -> np.ndarray:
        """Group values at a batch of points (rows of `zs`): shape (len(zs), num_groups)."""
        terms = np.exp(self.coef + np.asarray(self.matrix @ np.asarray(zs).T).T)
        return np.asarray(self.group_matrix() @ terms.T).T

    def split_monomials(self) -> tuple[Table, Table]:
        """(groups of two or more terms, renumbered; one-term groups, one group per row)."""
        sizes = np.bincount(self.group, minlength=self.num_groups)
        lone = sizes[self.group] == 1

        def part(rows: np.ndarray) -> Table:
            groups, renumbered = np.unique(self.group[rows], return_inverse=True)
            return Table(self.coef[rows], self.matrix[rows], renumbered.astype(np.int64), len(groups))

        return part(np.flatnonzero(~lone)), part(np.flatnonzero(lone))

    def group_matrix(self) -> sp.csr_matrix:
        """Sparse 0/1 matrix summing terms into groups."""
        m = len(self.coef)
        return sp.csr_matrix((np.ones(m), (self.group, np.arange(m))), shape=(self.num_groups, m))


class TableBuilder:
    """Collects monomial blocks `coef * prod z_block[idx] ** power` into one Table."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.coefs: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.groups: list[np.ndarray] = []
        self.count = 0
        self.num_groups = 0

    def add(self, log_coef: np.ndarray | float, group: np.ndarray, *factors: tuple) -> None:
        """Add len(group) terms; each factor is (block, index array or None for a scalar block, power)."""
        group = np.asarray(group, dtype=np.int64)
        m = len(group)
        if m == 0:
            return
        rows = np.arange(self.count, self.count + m)
        for block, idx, power in factors:
            if block not in self.layout:
                continue
            pos = self.layout.index(block, np.zeros(m, int) if idx is None else idx)
            self.rows.append(rows)
            self.cols.append(pos)
            self.vals.append(np.broadcast_to(np.asarray(power, float), (m,)))
        self.coefs.append(np.broadcast_to(np.asarray(log_coef, float), (m,)))
        self.groups.append(group)
        self.count += m
        self.num_groups = max(self.num_groups, int(group.max()) + 1)

    def new_groups(self, count: int) -> np.ndarray:
        """Reserve `count` fresh group ids."""
        ids = np.arange(self.num_groups, self.num_groups + count)
        self.num_groups += count
        return ids

    def build(self) -> Table:
        """Assemble the sparse table (duplicate (row, col) entries add up)."""
        cat = lambda xs, dt=float: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
        matrix = sp.csr_matrix(
            (cat(self.vals), (cat(self.rows, np.int64), cat(self.cols, np.int64))), shape=(self.count, self.layout.size)
        )
        return Table(cat(self.coefs), matrix, cat(self.groups, np.int64), self.num_groups)


def stack(*tables: Table) -> Table:
    """One table holding the rows and groups of `tables` in order (group ids offset, none merged)."""
    offsets = np.cumsum([0] + [t.num_groups for t in tables])
    return Table(
        np.concatenate([t.coef for t in tables]),
        sp.vstack([t.matrix for t in tables], format="csr"),
        np.concatenate([t.group + off for t, off in zip(tables, offsets)]).astype(np.int64),
        int(offsets[-1]),
    )


def condense_groups(table: Table, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-term AM-GM weights (shares within the group) and per-group constants at z.

    For every group g: sum_i exp(t_i) >= exp(sum_i w_i t_i + k_g), tight at z (`condense` for many groups).
    """
    t = table.log_terms(z)
    shift = np.full(table.num_groups, -np.inf)
    np.maximum.at(shift, table.group, t)
    share = np.exp(t - shift[table.group])
    total = np.bincount(table.group, weights=share, minlength=table.num_groups)
    w = share / total[table.group]
    ent = np.where(w > 0, -w * np.log(np.where(w > 0, w, 1.0)), 0.0)
    return w, np.bincount(table.group, weights=ent, minlength=table.num_groups)


def condense(log_terms: np.ndarray) -> tuple[np.ndarray, float]:
    """AM-GM weights w_i (term shares) and constant so sum_i exp(t_i) >= exp(w @ t + k), tight at `log_terms`.

    The local monomial approximation of a posynomial by the weighted arithmetic-geometric mean
    inequality, as in Boyd et al. [1]_.

    Examples
    --------
    >>> import numpy as np
    >>> w, k = condense(np.log([1.0, 3.0]))  # the posynomial 1 + 3 at its current terms
    >>> w.tolist(), round(float(np.exp(w @ np.log([1.0, 3.0]) + k)), 12)  # shares; exact at the point
    ([0.25, 0.75], 4.0)

    References
    ----------
    .. [1] S. Boyd, S.-J. Kim, L. Vandenberghe and A. Hassibi, "A tutorial on geometric programming",
       Optimization and Engineering 8(1), 67-127, 2007.
    """
    shift = log_terms.max()
    share = np.exp(log_terms - shift)
    w = share / share.sum()
    keep = w > 0
    k = -float(w[keep] @ np.log(w[keep]))
    return w, k

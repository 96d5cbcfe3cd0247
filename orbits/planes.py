"""Orbital planes: infer them from TLE mean elements, order satellites within a plane, +Grid pairs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from sgp4.api import Satrec

from orbits.errors import OrbitsError

__all__ = ["MeanElements", "PlaneTolerance", "PlaneLayout", "mean_elements_at", "infer_planes", "grid_pairs"]

# A gap between consecutive planes of a shell counts as "adjacent" up to this many typical gaps;
# a larger gap is a seam (e.g. the counter-rotating seam of a polar Walker-star) and is not bridged.
_MAX_GAP_FACTOR = 2.5


@dataclass(frozen=True)
class MeanElements:
    """SGP4 mean elements of N satellites advanced by their secular rates to one common instant."""

    inclination_deg: NDArray[np.float64]
    raan_deg: NDArray[np.float64]
    altitude_km: NDArray[np.float64]
    arg_latitude_deg: NDArray[np.float64]


def mean_elements_at(satrecs: Sequence[Satrec], jd: float) -> MeanElements:
    """Mean inclination, RAAN, altitude and argument of latitude at Julian date `jd` (UTC)."""

    def field(name: str) -> NDArray[np.float64]:
        return np.fromiter((getattr(s, name) for s in satrecs), dtype=np.float64, count=len(satrecs))

    minutes = (jd - field("jdsatepoch") - field("jdsatepochF")) * 1440.0
    # RAAN drifts by up to ~5 deg/day (J2), so TLEs from different days must be compared at one instant.
    raan = field("nodeo") + field("nodedot") * minutes
    arg_lat = field("argpo") + field("argpdot") * minutes + field("mo") + field("mdot") * minutes
    radius = field("radiusearthkm")
    return MeanElements(
        inclination_deg=np.degrees(field("inclo")),
        raan_deg=np.degrees(raan) % 360.0,
        altitude_km=(field("a") - 1.0) * radius,
        arg_latitude_deg=np.degrees(arg_lat) % 360.0,
    )


@dataclass(frozen=True)
class PlaneTolerance:
    """Single-linkage tolerances for grouping satellites into planes (combined as a Euclidean norm)."""

    inclination_deg: float = 0.5
    altitude_km: float = 10.0
    raan_deg: float = 1.5


@dataclass(frozen=True)
class PlaneLayout:
    """Plane membership (N,), order within the plane (N,), plane shells (P,) and adjacent plane pairs."""

    plane_ids: NDArray[np.int64]
    index_in_plane: NDArray[np.int64]
    arg_latitude_deg: NDArray[np.float64]
    plane_raan_deg: NDArray[np.float64]
    plane_shell: NDArray[np.int64]
    adjacent_planes: NDArray[np.int64]

    @property
    def num_planes(self) -> int:
        """Number of planes P."""
        return len(self.plane_raan_deg)


def _single_linkage(features: NDArray[np.float64]) -> NDArray[np.int64]:
    """Connected components of points closer than 1 (features pre-scaled by their tolerances)."""
    if len(features) == 0:
        return np.zeros(0, dtype=np.int64)
    # Satellites of one plane share (or nearly share) their features, and every pair of them within
    # the radius would be listed: memory grew with the square of the plane size (2.5 GB for 100,000
    # satellites). Points that agree to 1e-6 of a tolerance are in one component anyway, so the pairs
    # are searched among the distinct points only and the labels mapped back: linear in satellites.
    distinct, back = np.unique(np.round(features, 6), axis=0, return_inverse=True)
    pairs = cKDTree(distinct).query_pairs(1.0, output_type="ndarray")
    n = len(distinct)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1].astype(np.int64)[back.reshape(-1)]


def _circular_mean_deg(angles_deg: NDArray[np.float64], labels: NDArray[np.int64], count: int) -> NDArray:
    """Per-label circular mean of angles in degrees, in [0, 360)."""
    rad = np.radians(angles_deg)
    sin_sum = np.bincount(labels, np.sin(rad), minlength=count)
    cos_sum = np.bincount(labels, np.cos(rad), minlength=count)
    return np.degrees(np.arctan2(sin_sum, cos_sum)) % 360.0


def _group_mean(values: NDArray[np.float64], labels: NDArray[np.int64], count: int) -> NDArray[np.float64]:
    """Per-label arithmetic mean."""
    return np.bincount(labels, values, minlength=count) / np.bincount(labels, minlength=count)


def _relabel(labels: NDArray[np.int64], order: NDArray[np.int64]) -> NDArray[np.int64]:
    """Renumber labels so that label order[k] becomes k."""
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[labels]


def _index_in_plane(plane_ids: NDArray[np.int64], arg_lat: NDArray[np.float64]) -> NDArray[np.int64]:
    """Rank of each satellite within its plane by argument of latitude."""
    order = np.lexsort((arg_lat, plane_ids))
    sorted_planes = plane_ids[order]
    first = np.searchsorted(sorted_planes, sorted_planes, side="left")
    index = np.empty(len(plane_ids), dtype=np.int64)
    index[order] = np.arange(len(order)) - first
    return index


def _adjacent_planes(plane_raan: NDArray[np.float64], plane_shell: NDArray[np.int64]) -> NDArray[np.int64]:
    """Pairs (p, q) of planes that are RAAN neighbours in the same shell, seams excluded."""
    pairs: list[tuple[int, int]] = []
    for shell in np.unique(plane_shell):
        members = np.flatnonzero(plane_shell == shell)
        if len(members) < 2:
            continue
        members = members[np.argsort(plane_raan[members])]
        raans = plane_raan[members]
        gaps = np.append(np.diff(raans), 360.0 - raans[-1] + raans[0])
        limit = _MAX_GAP_FACTOR * np.median(gaps)
        for k, gap in enumerate(gaps):
            if gap <= limit:
                a, b = members[k], members[(k + 1) % len(members)]
                pairs.append((min(a, b), max(a, b)))
    unique = sorted(set(pairs))
    return np.array(unique, dtype=np.int64).reshape(-1, 2)


def _layout(plane_ids: NDArray, plane_shell: NDArray, elements: MeanElements) -> PlaneLayout:
    """Assemble a PlaneLayout from plane and shell labels."""
    count = int(plane_ids.max()) + 1 if len(plane_ids) else 0
    plane_raan = _circular_mean_deg(elements.raan_deg, plane_ids, count)
    return PlaneLayout(
        plane_ids=plane_ids,
        index_in_plane=_index_in_plane(plane_ids, elements.arg_latitude_deg),
        arg_latitude_deg=elements.arg_latitude_deg,
        plane_raan_deg=plane_raan,
        plane_shell=plane_shell,
        adjacent_planes=_adjacent_planes(plane_raan, plane_shell),
    )


def infer_planes(elements: MeanElements, tolerance: PlaneTolerance | None = None) -> PlaneLayout:
    """Cluster satellites into planes by (inclination, altitude, RAAN) and planes into shells."""
    tol = tolerance or PlaneTolerance()
    if min(tol.inclination_deg, tol.altitude_km, tol.raan_deg) <= 0:
        raise OrbitsError(f"plane tolerances must be positive, got {tol}")
    raan = np.radians(elements.raan_deg)
    # RAAN is circular: embed it on a circle whose chord length is ~ the angle over its tolerance.
    radius = 1.0 / np.radians(tol.raan_deg)
    shell_features = np.column_stack(
        (elements.inclination_deg / tol.inclination_deg, elements.altitude_km / tol.altitude_km)
    )
    labels = _single_linkage(np.column_stack((shell_features, radius * np.cos(raan), radius * np.sin(raan))))
    count = int(labels.max()) + 1 if len(labels) else 0
    plane_inc = _group_mean(elements.inclination_deg, labels, count)
    plane_alt = _group_mean(elements.altitude_km, labels, count)
    plane_raan = _circular_mean_deg(elements.raan_deg, labels, count)
    shells = _single_linkage(np.column_stack((plane_inc / tol.inclination_deg, plane_alt / tol.altitude_km)))
    shell_count = int(shells.max()) + 1 if len(shells) else 0
    shell_order = np.lexsort((_group_mean(plane_alt, shells, shell_count), _group_mean(plane_inc, shells, shell_count)))
    shells = _relabel(shells, shell_order)
    plane_order = np.lexsort((plane_raan, shells))
    return _layout(_relabel(labels, plane_order), shells[plane_order], elements)


def exact_planes(plane_ids: NDArray[np.int64], elements: MeanElements) -> PlaneLayout:
    """Layout for a constellation whose plane of every satellite is known (one shell)."""
    planes = np.asarray(plane_ids, dtype=np.int64)
    return _layout(planes, np.zeros(int(planes.max()) + 1, dtype=np.int64), elements)


def _circular_gap(a_deg: NDArray[np.float64], b_deg: NDArray[np.float64]) -> NDArray[np.float64]:
    """Smallest absolute angular difference (deg) between every a and every b, shape (len(a), len(b))."""
    diff = np.abs(a_deg[:, None] - b_deg[None, :]) % 360.0
    return np.minimum(diff, 360.0 - diff)


def grid_pairs(layout: PlaneLayout) -> NDArray[np.int64]:
    """+Grid candidate pairs: ring within each plane and a one-to-one phase matching to adjacent planes.

    Every satellite gets at most 2 intra-plane and 2 inter-plane partners, so degree <= 4.
    """
    members = [np.flatnonzero(layout.plane_ids == p) for p in range(layout.num_planes)]
    members = [m[np.argsort(layout.index_in_plane[m])] for m in members]
    pairs: list[NDArray[np.int64]] = []
    for ring in members:
        if len(ring) == 2:
            pairs.append(ring[None, :])
        elif len(ring) > 2:
            pairs.append(np.column_stack((ring, np.roll(ring, -1))))
    for p, q in layout.adjacent_planes:
        a, b = members[p], members[q]
        # Hungarian matching on phase difference: each satellite links to at most one in the other plane.
        rows, cols = linear_sum_assignment(_circular_gap(layout.arg_latitude_deg[a], layout.arg_latitude_deg[b]))
        pairs.append(np.column_stack((a[rows], b[cols])))
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64)
    edges = np.sort(np.concatenate(pairs), axis=1)
    return np.unique(edges, axis=0)

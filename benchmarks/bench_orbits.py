"""Orbits benchmark: positions + candidate ISLs + a distance MST per snapshot, against naive baselines.

Run: python benchmarks/bench_orbits.py [--steps 6000] [--quick] [--shadow-only] [--tle ../shared/data/starlink-2024-05.tle]

Fast path: SatrecArray propagation in time chunks, a KD-tree k-nearest-feasible-neighbour graph per
snapshot and scipy's sparse MST. Naive baseline (the pattern of existing simulators), measured in
the same run on a few sample steps and extrapolated: a Skyfield Time built per satellite, an
all-pairs line-of-sight loop in Python and networkx's MST. A second, stronger baseline vectorizes
the all-pairs check with NumPy (still O(N^2) memory and time per step).

Shadow section: the Sun (`orbits.sun.sun_position_km`) and the conical Earth shadow
(`orbits.sun.shadow_fraction`) against Skyfield's `is_sunlit` with the de421 ephemeris of the
skyfield-data package (read from disk) on the Starlink shell 1 preset over a day at 60 s steps, and
the time to compute the shadow of the real TLE snapshot divided by the time to propagate it.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from datetime import timedelta
from pathlib import Path

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import minimum_spanning_tree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orbits import Constellation, LinkParams, OrbitsWarning, shadow_fraction, snapshots, sun_position_km  # noqa: E402
from orbits.frames import WGS84_A_KM  # noqa: E402
from orbits.geometry import clears_earth  # noqa: E402
from orbits.timebase import timescale  # noqa: E402

DEFAULT_TLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "starlink-2024-05.tle"


def mst_weight(num_nodes: int, edges: np.ndarray, weights: np.ndarray) -> float:
    """Total weight of scipy's minimum spanning forest of an edge list."""
    graph = csr_matrix((weights, (edges[:, 0], edges[:, 1])), shape=(num_nodes, num_nodes))
    return float(minimum_spanning_tree(graph).sum())


def fast_run(constellation: Constellation, offsets: np.ndarray, policy: str) -> dict[str, float]:
    """Time propagation alone, then the full pipeline (propagate + candidate ISLs + MST per step)."""
    begin = time.perf_counter()
    for _ in constellation.propagate_chunks(offsets_s=offsets):
        pass
    propagate_s = time.perf_counter() - begin
    begin = time.perf_counter()
    edges = 0
    weights = []
    for snap in snapshots(constellation, offsets_s=offsets, policy=policy):
        edges += len(snap.edges)
        weights.append(mst_weight(snap.num_nodes, snap.edges, snap.distance_km))
    total_s = time.perf_counter() - begin
    return {"propagate_s": propagate_s, "total_s": total_s, "mean_edges": edges / len(offsets), "mst": weights}


def naive_step(constellation: Constellation, satellites: list, offset: float, params: LinkParams) -> float:
    """One step the slow way: per-satellite Skyfield Time, Python all-pairs LOS, networkx MST."""
    ts = timescale()
    when = constellation.epoch + timedelta(seconds=offset)
    positions = []
    for sat in satellites:
        positions.append(sat.at(ts.from_datetime(when)).position.km)
    limit = WGS84_A_KM + params.clearance_km
    graph = nx.Graph()
    graph.add_nodes_from(range(len(positions)))
    for i in range(len(positions)):
        xi, yi, zi = positions[i]
        for j in range(i + 1, len(positions)):
            xj, yj, zj = positions[j]
            dx, dy, dz = xj - xi, yj - yi, zj - zi
            d2 = dx * dx + dy * dy + dz * dz
            if d2 > params.max_distance_km**2:
                continue
            t = min(1.0, max(0.0, -(xi * dx + yi * dy + zi * dz) / d2))
            cx, cy, cz = xi + t * dx, yi + t * dy, zi + t * dz
            if cx * cx + cy * cy + cz * cz >= limit * limit:
                graph.add_edge(i, j, weight=math.sqrt(d2))
    return float(nx.minimum_spanning_tree(graph, weight="weight").size(weight="weight"))


def numpy_step(constellation: Constellation, offset: float, params: LinkParams) -> float:
    """A vectorized all-pairs step: SGP4 for all, N x N distance and LOS matrices, scipy MST."""
    positions = constellation.propagate(offsets_s=[offset]).positions_km[0]
    gap = positions[:, None, :] - positions[None, :, :]
    distance = np.sqrt(np.einsum("ijk,ijk->ij", gap, gap))
    usable = (distance <= params.max_distance_km) & clears_earth(
        positions[:, None, :], positions[None, :, :], WGS84_A_KM + params.clearance_km
    )
    i, j = np.nonzero(np.triu(usable, 1))
    return mst_weight(len(positions), np.column_stack((i, j)), distance[i, j])


def timed(call) -> tuple[float, float]:
    """(seconds, result) of one call."""
    begin = time.perf_counter()
    result = call()
    return time.perf_counter() - begin, result


def run(label: str, constellation: Constellation, steps: int, naive_samples: int, policy: str) -> None:
    """Benchmark one constellation at 1 s steps and print rates and ratios."""
    from skyfield.api import EarthSatellite

    params = LinkParams()
    offsets = np.arange(float(steps))
    n = len(constellation)
    print(f"\n== {label}: {n} satellites, {steps} snapshots at 1 s steps, policy={policy}")
    fast = fast_run(constellation, offsets, policy)
    per_step = fast["total_s"] / steps
    print(f"fast   propagation only : {fast['propagate_s']:7.2f} s  ({n * steps / fast['propagate_s'] / 1e6:6.2f} M satellite-states/s)")
    print(f"fast   full pipeline    : {fast['total_s']:7.2f} s  ({steps / fast['total_s']:7.1f} snapshots/s, "
          f"{n * steps / fast['total_s'] / 1e6:5.2f} M satellite-states/s, {fast['mean_edges']:.0f} candidate edges/step)")
    if naive_samples <= 0:
        return
    ts = timescale()
    satellites = [EarthSatellite(t.line1, t.line2, t.name, ts) for t in constellation.tles]
    sample = np.linspace(0, steps - 1, naive_samples).round().astype(int)
    naive_times, numpy_times, agree = [], [], []
    for step in sample:
        seconds, naive_weight = timed(lambda: naive_step(constellation, satellites, float(offsets[step]), params))
        naive_times.append(seconds)
        seconds, numpy_weight = timed(lambda: numpy_step(constellation, float(offsets[step]), params))
        numpy_times.append(seconds)
        agree.append(abs(naive_weight - fast["mst"][step]) / naive_weight)
        agree.append(abs(numpy_weight - fast["mst"][step]) / numpy_weight)
    naive_step_s, numpy_step_s = float(np.mean(naive_times)), float(np.mean(numpy_times))
    print(f"naive  (Skyfield Time per satellite + Python all-pairs LOS + networkx MST), {len(sample)} sampled steps: "
          f"{naive_step_s:.2f} s/step -> {naive_step_s * steps / 3600:.2f} h extrapolated; "
          f"fast is {naive_step_s / per_step:,.0f}x faster")
    print(f"numpy  (vectorized all-pairs + scipy MST), same steps: {numpy_step_s * 1e3:.1f} ms/step -> "
          f"{numpy_step_s * steps:.0f} s extrapolated; fast is {numpy_step_s / per_step:.1f}x faster")
    print(f"check  MST weight of the k-NN candidate graph vs the all-pairs MST: max relative gap {max(agree):.2e}")


def skyfield_sunlit(constellation: Constellation, indices: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Skyfield's `is_sunlit` (T, len(indices)) with de421 from the skyfield-data package (no download)."""
    import skyfield_data
    from skyfield.api import EarthSatellite, load_file

    ephemeris = load_file(str(Path(skyfield_data.__file__).parent / "data" / "de421.bsp"))
    ts = timescale()
    times = ts.from_datetimes([constellation.epoch + timedelta(seconds=float(s)) for s in offsets])
    tles = constellation.tles
    return np.array([EarthSatellite(tles[i].line1, tles[i].line2, ts=ts).at(times).is_sunlit(ephemeris)
                     for i in indices]).T


def shadow_check(label: str, constellation: Constellation, steps: int, step_s: float, sample: int) -> None:
    """Agreement of the conical shadow (lit = at least half the solar disc) with Skyfield over `steps` steps."""
    offsets = np.arange(steps) * step_s
    n = len(constellation)
    indices = np.arange(n) if sample <= 0 or sample >= n else np.linspace(0, n - 1, sample).round().astype(int)
    positions = constellation.propagate(offsets_s=offsets).positions_km[:, indices]
    fraction = shadow_fraction(positions, sun_position_km(constellation.epoch, offsets))
    seconds, reference = timed(lambda: skyfield_sunlit(constellation, indices, offsets))
    valid = ~np.isnan(fraction)
    disagree = ((fraction >= 0.5) != reference) & valid
    # A sample is at a boundary when a neighbouring sample of Skyfield's has the other state.
    boundary = np.zeros_like(reference)
    boundary[1:] |= reference[1:] != reference[:-1]
    boundary[:-1] |= reference[:-1] != reference[1:]
    agreement = 1.0 - disagree.sum() / valid.sum()
    who = "all satellites" if len(indices) == n else f"a sample of {len(indices)} of {n} satellites (evenly spaced)"
    eclipse = 1.0 - reference.mean(axis=0)
    print(f"check  {label}: agreement with Skyfield is_sunlit {100 * agreement:.3f} % of {len(indices)} x {steps} "
          f"samples ({who}; goal >= 99.5 %); {int(disagree.sum())} disagreement(s), "
          f"{int((disagree & ~boundary).sum())} more than {step_s:g} s from a shadow boundary; "
          f"eclipse {100 * eclipse.min():.1f}-{100 * eclipse.max():.1f} % of the time; Skyfield took {seconds:.1f} s")


def shadow_cost(label: str, constellation: Constellation, steps: int, step_s: float) -> None:
    """Time of the Sun + conical shadow against the time of the SGP4 propagation it follows, same run."""
    offsets = np.arange(steps) * step_s
    propagate_s = shadow_s = 0.0
    chunks = constellation.propagate_chunks(offsets_s=offsets)
    while True:
        begin = time.perf_counter()
        chunk = next(chunks, None)
        propagate_s += time.perf_counter() - begin
        if chunk is None:
            break
        begin = time.perf_counter()
        shadow_fraction(chunk.positions_km, sun_position_km(constellation.epoch, chunk.offsets_s))
        shadow_s += time.perf_counter() - begin
    n = len(constellation)
    print(f"cost   {label}: {n} satellites x {steps} steps: propagation {propagate_s:.2f} s, Sun + conical shadow "
          f"{shadow_s:.2f} s ({n * steps / shadow_s / 1e6:.1f} M satellite-states/s); "
          f"shadow / propagation = {shadow_s / propagate_s:.2f}x (goal <= 2x)")


def run_shadow(steps: int, sample: int, tle: Path) -> None:
    """The shadow section: Skyfield agreement on Starlink shell 1, cost on the real TLE snapshot."""
    step_s = 60.0
    print(f"\n== shadow: Sun (Astronomical Almanac) + conical Earth shadow (Montenbruck & Gill 3.4), "
          f"{steps} steps at {step_s:g} s ({steps * step_s / 3600:g} h)")
    shell = Constellation.from_preset("starlink-shell1")
    shadow_check("Starlink shell 1 (1584 satellites)", shell, steps, step_s, sample)
    if tle.is_file():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            real = Constellation.from_file(tle, strict=False)
        caught = [w for w in caught if issubclass(w.category, OrbitsWarning)]
        skipped = f"; {str(caught[0].message)[:160]}" if caught else ""
        print(f"load   {tle.name}: {len(real)} satellites{skipped}")
        shadow_cost(f"real TLE file {tle.name}", real, steps, step_s)
    else:
        print(f"(real TLE file {tle} not found; shadow cost measured on the preset instead)")
        shadow_cost("Starlink shell 1", shell, steps, step_s)


def main() -> None:
    """Parse options and run both scenarios, then the shadow section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6000, help="snapshots for Starlink shell 1 (1 s apart)")
    parser.add_argument("--real-steps", type=int, default=600, help="snapshots for the real TLE file")
    parser.add_argument("--naive-samples", type=int, default=2, help="steps timed with the naive baselines")
    parser.add_argument("--policy", choices=("knn", "grid"), default="knn")
    parser.add_argument("--tle", type=Path, default=DEFAULT_TLE, help="real TLE file (skipped if missing)")
    parser.add_argument("--shadow-steps", type=int, default=1440, help="60 s steps of the shadow section (a day)")
    parser.add_argument("--shadow-sample", type=int, default=0,
                        help="satellites checked against Skyfield in the shadow section (0: all)")
    parser.add_argument("--shadow-only", action="store_true", help="run only the shadow section")
    parser.add_argument("--quick", action="store_true",
                        help="300 / 60 steps and one naive sample; shadow: 360 steps, 200 satellites checked")
    args = parser.parse_args()
    if args.shadow_steps < 2:
        parser.error(f"--shadow-steps must be at least 2, got {args.shadow_steps}")
    if args.quick:
        args.steps, args.real_steps, args.naive_samples = 300, 60, 1
        args.shadow_steps, args.shadow_sample = 360, 200
    import sgp4.api

    print(f"sgp4 accelerated: {sgp4.api.accelerated}")
    if args.shadow_only:
        run_shadow(args.shadow_steps, args.shadow_sample, args.tle)
        return
    run("Starlink shell 1 (Walker 53:1584/72/1, 550 km)", Constellation.from_preset("starlink-shell1"),
        args.steps, args.naive_samples, args.policy)
    if args.tle.is_file():
        run(f"real TLE file {args.tle.name}", Constellation.from_file(args.tle), args.real_steps, 1 if args.naive_samples else 0, args.policy)
    else:
        print(f"\n(real TLE file {args.tle} not found; skipped)")
    run_shadow(args.shadow_steps, args.shadow_sample, args.tle)


if __name__ == "__main__":
    main()

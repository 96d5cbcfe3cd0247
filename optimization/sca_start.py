"""Starting points of the SCA: an integral forest with its resources, or a fractional interior point.

:func:`initial_point` puts a forest (x = 1 on its arcs) and its resources into the program's log space with every
auxiliary variable at its tightest value; :func:`fractional_point` spreads the arc and root indicators over an
interior point of the CCR's linear relaxation (an LP), so the first condensation sees every arc.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

from optimization.defaults import Resources
from optimization.errors import OptimizationError
from optimization.formulation import FREE, GHZ, MBIT, SignomialProgram, _longest_fixed_point

def initial_point(program: SignomialProgram, parent: np.ndarray, res: Resources) -> np.ndarray:
    """Feasible log-point of the program at an integral forest and resources (the SCA warm start).

    The topology block is the forest's integral point of the CCR: x = 1 on its arcs, eps elsewhere,
    r = 1 at its roots and eps elsewhere (every arc of the forest must be among the program's arcs).
    """
    arcs = program.arcs
    if program.fixed:
        return _point(program, np.ones(len(arcs.tail)), None, res)
    eps = program.ccr.eps
    x = np.where(parent[arcs.tail] == arcs.head, 1.0, eps)
    r = np.where(parent < 0, 1.0, eps)
    return _point(program, x, r, res)


def fractional_point(program: SignomialProgram, res: Resources) -> np.ndarray:
    """A feasible fractional log-point of the (not fixed) program: an SCA start that favours no forest.

    Root mass: one per connected component of the candidate arcs, the other K - C spread by component
    size, each spread evenly over the component's eligible satellites (r^); x^ = (1 - r^) / outdeg evenly
    over each satellite's out-arcs, so every one-parent row holds with equality and sum r^ = K. Where that breaks a
    degree row, or leaves a closed set of satellites (no arc leaves it) with root mass below 1, an LP over the
    same linear rows, with mass >= 1 in every closed set, picks the most interior x^, r^ instead. Labels, o and times are then set to their least feasible values.
    Raises OptimizationError when no fractional point exists (e.g. no eligible root where one is needed).
    """
    if program.fixed:
        raise OptimizationError("a fixed-topology program has no fractional point: use initial_point")
    P, arcs, ccr = program.problem, program.arcs, program.ccr
    n, k, eps = P.num_nodes, program.num_trees, ccr.eps
    tail, head = arcs.tail, arcs.head
    outdeg = np.bincount(tail, minlength=n)
    eligible = np.ones(n, bool) if P.root_eligible is None else np.asarray(P.root_eligible, bool)
    # Root mass per connected component of the candidate arcs: one each, the rest spread by size, then
    # evenly over the component's eligible satellites (forced roots, without arcs, are components of one).
    comp = _components(n, tail, head)
    count = np.bincount(comp)
    if len(count) > k:
        raise OptimizationError(f"no fractional start: the candidate arcs leave {len(count)} components for K = {k}")
    pool = np.bincount(comp, weights=eligible.astype(float))
    if (pool == 0).any() or pool.sum() < k:
        raise OptimizationError("no fractional start: a component of the candidate arcs has no eligible root, "
                                f"or fewer than K = {k} satellites may be roots")
    mass = np.ones(len(count))
    for _ in range(len(count)):  # the K - C extra roots by size, no component above its eligible count
        room = pool - mass
        left = k - mass.sum()
        if left <= 1e-12:
            break
        share = np.where(room > 1e-12, count, 0.0)
        mass = np.minimum(mass + left * share / share.sum(), pool)
    r_hat = np.where(eligible, mass[comp] / pool[comp], 0.0)
    x_hat = (1.0 - r_hat[tail]) / np.maximum(outdeg[tail], 1)
    touching = np.bincount(np.r_[tail, head], weights=np.r_[x_hat, x_hat], minlength=n)
    cand_deg = np.bincount(np.r_[tail, head], minlength=n) // 2
    tight = cand_deg > P.resources.terminals
    # A closed set of satellites (a sink strongly connected component of the arcs: none leads out of it)
    # holds a root in every forest, so it needs root mass >= 1; with less, its cycle keeps x^ near 1 and no
    # depth labels exist (e.g. a 2-cycle a <-> b of two single-arc satellites).
    sinks = _sink_components(n, tail, head)
    if any(not eligible[s].any() for s in sinks):
        raise OptimizationError("no fractional start: a closed set of the candidate arcs has no eligible root")
    short = any(r_hat[s].sum() < 1 - 1e-12 for s in sinks)
    if short or (touching[tight] > P.resources.terminals[tight] + 1e-12).any():
        x_hat, r_hat = _interior_lp(n, k, tail, head, eligible, P.resources.terminals, tight, sinks)
    x = eps + (1 - eps) * x_hat
    r = np.where(eligible, eps + (1 - eps) * r_hat, eps)
    z = _point(program, x, r, res)
    if ccr.violation(z) > 1e-9:  # e.g. the LP put whole arcs on a cycle: no depth labels for it
        raise OptimizationError("no fractional start: the depth labels cut the evenly split arcs (start from a forest)")
    return z


def _sink_components(n: int, tail: np.ndarray, head: np.ndarray) -> list[np.ndarray]:
    """The satellites of each strongly connected component of the arcs tail -> head that no arc leaves."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    count, label = connected_components(csr_matrix((np.ones(len(tail)), (tail, head)), shape=(n, n)),
                                        directed=True, connection="strong")
    has_exit = np.zeros(count, bool)
    has_exit[label[tail][label[tail] != label[head]]] = True
    return [np.flatnonzero(label == c) for c in np.flatnonzero(~has_exit)]


def _components(n: int, tail: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Connected-component label of every node under the arcs."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    graph = csr_matrix((np.ones(len(tail)), (tail, head)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _interior_lp(n, k, tail, head, eligible, terminals, tight, sinks) -> tuple[np.ndarray, np.ndarray]:
    """x^, r^ on the CCR's linear rows (one parent, K roots, degree) and root mass >= 1 in every closed set
    ``sinks``, maximising the smallest entry."""
    a = len(tail)
    nv = a + n + 1  # x^, r^, t
    eq = np.zeros((n + 1, nv))
    eq[tail, np.arange(a)] = 1.0
    eq[np.arange(n), a + np.arange(n)] = 1.0
    eq[n, a:a + n] = 1.0
    b_eq = np.r_[np.ones(n), k]
    rows, b_ub = [], []
    for v in np.flatnonzero(tight):
        row = np.zeros(nv)
        row[np.flatnonzero((tail == v) | (head == v))] = 1.0
        rows.append(row)
        b_ub.append(terminals[v])
    for members in sinks:  # sum of r^ over a closed set >= 1
        row = np.zeros(nv)
        row[a + members] = -1.0
        rows.append(row)
        b_ub.append(-1.0)
    floor = np.zeros((a + int(eligible.sum()), nv))  # t <= x^_a, t <= r^_n (eligible)
    floor[np.arange(a), np.arange(a)] = -1.0
    floor[a + np.arange(int(eligible.sum())), a + np.flatnonzero(eligible)] = -1.0
    floor[:, -1] = 1.0
    A_ub = np.vstack([np.array(rows).reshape(-1, nv), floor])
    b_ub = np.r_[b_ub, np.zeros(len(floor))]
    # First with x^ <= 1/2 on the arcs of satellites that have two or more: every cycle then multiplies to
    # at most (1/2 + eps)^length and keeps its depth labels (step <= 1/2); without the caps if that fails.
    outdeg = np.bincount(tail, minlength=n)
    for cap in (np.where(outdeg[tail] >= 2, 0.5, 1.0), np.ones(a)):
        bounds = [(0, c) for c in cap] + [(0, 1 if e else 0) for e in eligible] + [(0, 1)]
        lp = linprog(np.r_[np.zeros(a + n), -1.0], A_ub=A_ub, b_ub=b_ub, A_eq=eq, b_eq=b_eq, bounds=bounds,
                     method="highs")
        if lp.status == 0:
            break
    if lp.status != 0:
        raise OptimizationError("no fractional start: the CCR's linear rows (one parent, K roots, degree) are infeasible")
    return np.clip(lp.x[:a], 0, 1), np.clip(lp.x[a:a + n], 0, 1)


def _point(program: SignomialProgram, x: np.ndarray, r: np.ndarray | None, res: Resources) -> np.ndarray:
    """Log-point with arc values x, root values r (None when fixed) and resources res; every auxiliary at
    its least feasible value (o = out-sums, labels, air times, the time recursion)."""
    P, L, arcs = program.problem, program.layout, program.arcs
    n = P.num_nodes
    tail, head = arcs.tail, arcs.head
    z = np.zeros(L.size)
    values: dict[str, np.ndarray | float] = {}
    # Every auxiliary value is raised to the box floor *before* the times are derived from it: a root's
    # floor-weighted link sums can fall below e^-FREE, and raising them later would break ts >= tu + au + dl.
    floor = np.exp(-FREE)
    if not program.fixed:
        values.update(x=x, r=r, o=np.maximum(np.bincount(tail, weights=x, minlength=n), floor))
    bits, rmax = P.model_bits / MBIT, P.max_rate_bps / MBIT
    rpw = P.rate_per_watt[arcs.edge] / MBIT
    delay = P.delay_s[arcs.edge]
    lu = np.maximum(np.maximum(bits / (rpw * res.tx_power_w[tail]), bits / rmax), floor)
    ld = np.maximum(np.maximum(bits / (rpw * res.tx_power_w[head]), bits / rmax), floor)
    # Nodes without out-arcs (roots of a fixed forest) use none of au, ad, dl, ts, tr: any in-box value does.
    # A satellite's parent-link sums: weighted by x (fixed) or by x^ (the topology program's `_link_sums`).
    weight = x if program.fixed else np.maximum(x - program.ccr.eps, 0.0) / (1 - program.ccr.eps)
    per_node = lambda w: np.maximum(np.bincount(tail, weights=weight * w, minlength=n), floor)  # noqa: E731
    au, ad, dl = per_node(lu), per_node(ld), per_node(delay)
    compute = res.local_steps * res.batch_size * P.resources.cycles_per_sample / res.cpu_hz
    acq = P.acquisition_s[arcs.edge]
    if (acq > 0).any():  # tu >= x * acquisition of each out-arc (the uplink must be up before sending)
        compute = compute.copy()
        np.maximum.at(compute, tail, x * acq)
    if "tf" in L:
        values.update(_packet_times(program, x, compute, au, ad, dl, floor))
        tu, ts, tr, td = (values.pop(k) for k in ("tu", "ts", "tr", "td"))
    else:
        tu = _longest_fixed_point(compute, tail, head, x, x * (au + dl)[tail])
        ts = tu + au + dl
        td = _longest_fixed_point(tu, head, tail, x, (ad + dl)[tail])
        tr = np.full(n, floor)
        np.maximum.at(tr, tail, x * td[head])
    inv_gap = np.maximum(1.0 / res.batch_size - 1.0 / program.num_samples, 1e-12)
    values.update({
        "f": res.cpu_hz / GHZ, "P": res.tx_power_w, "e": res.local_steps, "B": res.batch_size,
        "tu": tu, "ts": ts, "tr": tr, "td": td, "au": au, "ad": ad, "dl": dl, "v": inv_gap,
        "lu": lu, "ld": ld, "T": td.max(), "s": program.rho @ res.local_steps, "u": res.local_steps.max(),
    })
    for name, val in values.items():
        z[L.slices[name]] = np.log(val)
    if not program.fixed:
        z[L.slices["d"]] = program.ccr.labels(z[L.slices["x"]])[0]
    return np.clip(z, program.lower, program.upper)


def _packet_times(program: SignomialProgram, x: np.ndarray, compute: np.ndarray, au: np.ndarray, ad: np.ndarray,
                  dl: np.ndarray, floor: float) -> dict[str, np.ndarray]:
    """The least times of the packet rows (``formulation._packet_rows``) at arc values x: first packets up (tu, tf),
    last packets up (ts), first packets down (tr, tg), the new model held (td); ``walk_forest``'s cut-through
    recursion at an integral point."""
    tail, head = program.arcs.tail, program.arcs.head
    n, share = len(compute), program.problem.packet_fraction
    tu = _longest_fixed_point(compute, tail, head, x, x * (share * au + dl)[tail])
    ts = _longest_fixed_point(tu + au + dl, tail, head, x, (share * au + dl)[head])
    complete = tu.copy()  # the sum is complete once every child's last packet is in
    np.maximum.at(complete, head, x * ts[tail])
    tg = _longest_fixed_point(complete, head, tail, x, (share * ad + dl)[tail])
    tr = np.full(n, floor)
    np.maximum.at(tr, tail, x * tg[head])
    td = _longest_fixed_point(np.maximum(tg, tr + ad + dl), head, tail, x, (share * ad + dl)[tail])
    return {"tu": tu, "tf": tu + share * au + dl, "ts": ts, "tr": tr, "tg": tg, "td": td}

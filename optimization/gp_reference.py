"""The readable reference: the same SCA subproblem written term by term as a CVXPY geometric program (gp=True).

Slow to compile (one expression per arc); used to cross-check the log-space fast path on small problems.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from optimization.bound import C_DRIFT, C_DRIFT_LOCAL, C_GAP, C_NOISE, cluster_dissimilarity
from optimization.evaluate import objective_scales
from optimization.formulation import GHZ, MBIT, SignomialProgram, edge_floor
from optimization.solvers import SolveRecord, solve_with_fallback
from optimization.costs import terminal_overhead_w


def _table_terms(table, layout, var: dict) -> list:
    """Each row of a log-space table as a CVXPY monomial exp(coef) * prod var ** power (for the CCR rows)."""
    where = {}
    for name, sl in layout.slices.items():
        for i, col in enumerate(range(sl.start, sl.stop)):
            where[col] = (name, i)
    m = table.matrix.tocsr()
    out = []
    for row in range(len(table.coef)):
        factors = [var[where[c][0]][where[c][1]] ** float(v) for c, v in zip(m.indices[m.indptr[row]:m.indptr[row + 1]],
                                                                       m.data[m.indptr[row]:m.indptr[row + 1]]) if v != 0]
        term = float(np.exp(table.coef[row]))
        for f in factors:
            term = term * f
        out.append(term)
    return out


def _ccr_constraints(prog: SignomialProgram, var: dict, point: np.ndarray) -> list:
    """The CCR of `optimization.ccr` (the program's single definition) term by term, reverse sides condensed."""
    ccr, L = prog.ccr, prog.layout
    cons = []
    for name in ("x", "r", "o", "d"):
        sl = L.slices[name]
        cons += [var[name] >= np.exp(prog.lower[sl]), var[name] <= np.exp(prog.upper[sl])]
    terms = _table_terms(ccr.upper, L, var)
    for g in range(ccr.upper.num_groups):
        cons.append(sum(terms[i] for i in np.flatnonzero(ccr.upper.group == g)) <= 1)
    cons += [t <= 1 for t in _table_terms(ccr.monomial, L, var)]  # depth labels
    terms, values = _table_terms(ccr.reverse, L, var), np.exp(ccr.reverse.log_terms(point))
    for g in range(ccr.reverse.num_groups):
        rows = np.flatnonzero(ccr.reverse.group == g)
        cons.append(_monomial_below([terms[i] for i in rows], values[rows]) >= 1)
    return cons


def _monomial_below(terms: list, values: np.ndarray):
    """AM-GM monomial prod (t_i / w_i)^w_i <= sum t_i, with w_i the term shares at `values`."""
    w = values / values.sum()
    return cp.prod(cp.hstack([(t / wi) ** wi for t, wi in zip(terms, w) if wi > 0]))


class GPReferenceSubproblem:
    """One condensed GP per call, rebuilt from scratch (no Parameters, no vectorisation).

    Written as a disciplined geometric program (CVXPY ``gp=True``) [1]_ [2]_.

    References
    ----------
    .. [1] S. Boyd, S.-J. Kim, L. Vandenberghe and A. Hassibi, "A tutorial on geometric programming",
       Optimization and Engineering 8(1), 67-127, 2007.
    .. [2] A. Agrawal, S. Diamond and S. Boyd, "Disciplined geometric programming", Optimization
       Letters 13(5), 961-976, 2019.
    """

    def __init__(self, program: SignomialProgram, chain: tuple[str, ...]) -> None:
        self.program, self.chain = program, chain

    def solve(self, point: np.ndarray, radius: float) -> tuple[np.ndarray, float, SolveRecord]:
        """Build and solve the GP at `point`; return the log-point, optimal value and solver record."""
        prog, P = self.program, self.program.problem
        L, arcs, res = prog.layout, prog.arcs, P.resources
        n, a, fixed = P.num_nodes, len(arcs.tail), prog.fixed
        at = {name: np.exp(point[L.slices[name]]) for name in L.slices}
        var = {name: cp.Variable(L.sizes[name], pos=True) for name in L.slices}
        x = None if fixed else var["x"]
        f, pw, e, b = var["f"], var["P"], var["e"], var["B"]
        tu, ts, tr, td = var["tu"], var["ts"], var["tr"], var["td"]
        lu, ld, v = var["lu"], var["ld"], var["v"]
        T, s, u = var["T"][0], var["s"][0], var["u"][0]
        xa = (lambda i: 1.0) if fixed else (lambda i: x[i])
        bits, rmax = P.model_bits / MBIT, P.max_rate_bps / MBIT
        e_lo, e_hi = P.step_bounds()
        b_lo, b_hi = P.batch_limits()
        cons = [
            f >= res.min_cpu_hz / GHZ, f <= res.max_cpu_hz / GHZ,
            pw >= res.min_tx_power_w, pw <= res.max_tx_power_w,
            e >= e_lo, e <= e_hi, b >= b_lo, b <= b_hi, u <= e_hi,
        ]
        if P.deadline_s is not None and P.deadline_s > prog.mixing[0]:  # a cadence round fits its interval
            cons.append(T <= P.deadline_s - prog.mixing[0])
        for name in ("x", "r", "f", "P", "e", "B"):  # trust region on log x
            if name in var:
                cons += [var[name] <= np.exp(radius) * at[name], at[name] <= np.exp(radius) * var[name]]
        if not fixed:
            cons += _ccr_constraints(prog, var, point)
            for name in ("au", "ad", "dl"):  # x^-weighted sums may vanish at a root: the program's box
                sl = L.slices[name]
                cons += [var[name] >= np.exp(prog.lower[sl]), var[name] <= np.exp(prog.upper[sl])]
        packets = "tf" in var  # relays forward packet by packet: wait for first packets (tf up, tg down)
        first_up, first_down = (var["tf"], var["tg"]) if packets else (ts, td)
        for i in range(a):
            c, m, edge = arcs.tail[i], arcs.head[i], arcs.edge[i]
            rpw = P.rate_per_watt[edge] / MBIT
            cons += [
                xa(i) * first_up[c] <= tu[m],  # a parent waits for every child
                xa(i) * first_down[m] <= tr[c],  # a child waits for its parent
                lu[i] >= bits / (rpw * pw[c]), lu[i] >= bits / rmax,
                ld[i] >= bits / (rpw * pw[m]), ld[i] >= bits / rmax,
            ]
            if packets:
                cons += self._relay_rows(i, var)
        gcycles = res.cycles_per_sample / GHZ
        kappa = 0.5 * res.capacitance * GHZ**3
        acq = P.acquisition_s[arcs.edge]
        for i in np.flatnonzero(acq > 0):  # a child sends once its uplink is acquired
            cons.append(xa(i) * acq[i] <= tu[arcs.tail[i]])
        for node in range(n):
            cons += [e[node] * b[node] * gcycles[node] / f[node] <= tu[node], tu[node] <= td[node], td[node] <= T,
                     e[node] <= u]
            if packets:
                cons += [tu[node] <= var["tg"][node], var["tg"][node] <= td[node]]
            out = np.flatnonzero(arcs.tail == node)
            cons += self._link_rows(node, out, var, at)
            if np.isfinite(res.energy_budget_j[node]):
                cons.append(self._budget_row(node, out, var, acq))
        rho = prog.rho
        cons.append(s <= _monomial_below([rho[k] * e[k] for k in range(n)], rho * at["e"]))
        inv_d = 1.0 / prog.num_samples
        for k in range(n):
            cons.append(1.0 / b[k] <= _monomial_below([v[k], inv_d[k]], np.array([at["v"][k], inv_d[k]])))
        objective = self._objective(var, at, rho, kappa * gcycles)
        problem = cp.Problem(cp.Minimize(objective), cons)
        record = solve_with_fallback(problem, self.chain, gp=True)
        # A block no constraint touches (the link times of a fixed forest's roots) keeps its value at `point`.
        z = np.concatenate([np.log(np.atleast_1d(var[name].value)) if var[name].value is not None
                            else point[L.slices[name]] for name in L.slices])
        return z, float(problem.value), record

    def _link_rows(self, node: int, out: np.ndarray, var: dict, at: dict) -> list:
        """The node's own parent link (air times and delay summed over its out-arcs ``out``) and its send and
        receive times: ts >= tu + au + dl, td >= tr + ad + dl (units s)."""
        prog, P = self.program, self.program.problem
        arcs, fixed, x = prog.arcs, prog.fixed, var.get("x")
        lu, ld, au, ad, dl = var["lu"], var["ld"], var["au"], var["ad"], var["dl"]
        tu, ts, tr, td = var["tu"], var["ts"], var["tr"], var["td"]
        cons: list = []
        if len(out):  # the node's own parent link: air times and delay summed over its out-arcs
            delay = P.delay_s[arcs.edge[out]]
            hop = 0.0
            if fixed:
                cons += [sum(lu[i] for i in out) <= au[node], sum(ld[i] for i in out) <= ad[node]]
                if (delay > 0).any():
                    cons.append(sum(d for d in delay if d > 0) <= dl[node])
            else:  # weighted by x^ = (x - eps) / (1 - eps): sum x lu <= (1 - eps) au + eps sum lu, condensed
                eps = prog.ccr.eps
                for link, total in ((lu, au), (ld, ad)):
                    terms = [(1 - eps) * total[node]] + [eps * link[i] for i in out]
                    values = np.r_[(1 - eps) * at[total is au and "au" or "ad"][node],
                                   eps * at[link is lu and "lu" or "ld"][out]]
                    cons.append(sum(x[i] * link[i] for i in out) <= _monomial_below(terms, values))
                if (delay > 0).any():
                    terms = [(1 - eps) * dl[node], eps * float(delay.sum())]
                    values = np.r_[(1 - eps) * at["dl"][node], eps * delay.sum()]
                    cons.append(sum(x[i] * d for i, d in zip(out, delay) if d > 0) <= _monomial_below(terms, values))
            if (delay > 0).any():
                hop = dl[node]
            cons += [tu[node] + au[node] + hop <= ts[node], tr[node] + ad[node] + hop <= td[node]]
            if "tf" in var:  # the first packet up and down
                share = P.packet_fraction
                cons += [tu[node] + share * au[node] + hop <= var["tf"][node],
                         tr[node] + share * ad[node] + hop <= var["tg"][node]]
        return cons

    def _relay_rows(self, i: int, var: dict) -> list:
        """Arc i (child c -> parent m) with packets: m's sum is complete once c's last packet is in (ts_c <= tg_m);
        m's last packet up leaves after c's last plus one packet, if m has a parent link; c's last packet down
        arrives after m holds the whole model plus one packet (units s)."""
        prog, P = self.program, self.program.problem
        arcs, share = prog.arcs, P.packet_fraction
        c, m = arcs.tail[i], arcs.head[i]
        xa = 1.0 if prog.fixed else var["x"][i]
        ts, td, au, ad, dl = var["ts"], var["td"], var["au"], var["ad"], var["dl"]

        def hop(node: int):
            return dl[node] if (P.delay_s[arcs.edge[arcs.tail == node]] > 0).any() else 0.0

        cons = [xa * ts[c] <= var["tg"][m], xa * td[m] + share * ad[c] + hop(c) <= td[c]]
        if (arcs.tail == m).any():
            cons.append(xa * ts[c] + share * au[m] + hop(m) <= ts[m])
        return cons

    def _budget_row(self, node: int, out: np.ndarray, var: dict, acq: np.ndarray):
        """The node's round energy (compute, static, its uplink and its children's downlinks with the terminals,
        acquisition) <= its energy budget, with the relaxation's allowance for unused arcs (units J)."""
        prog, P = self.program, self.program.problem
        arcs, res, fixed, n = prog.arcs, P.resources, prog.fixed, P.num_nodes
        e, b, f, pw, au, ld = var["e"], var["B"], var["f"], var["P"], var["au"], var["ld"]
        xa = (lambda i: 1.0) if fixed else (lambda i: var["x"][i])
        bits, rmax = P.model_bits / MBIT, P.max_rate_bps / MBIT
        gcycles = res.cycles_per_sample / GHZ
        kappa = 0.5 * res.capacitance * GHZ**3
        over = terminal_overhead_w(P.terminal_power_w)  # both terminals for the air time
        spend = kappa[node] * gcycles[node] * e[node] * b[node] * f[node] ** 2
        if res.static_power_w[node] > 0:
            spend += res.static_power_w[node] * gcycles[node] * e[node] * b[node] / f[node]
        if len(out):
            spend += pw[node] * au[node] + (over * au[node] if over > 0 else 0.0)
        for i in np.flatnonzero(arcs.head == node):
            spend += xa(i) * pw[node] * ld[i] + (over * xa(i) * ld[i] if over > 0 else 0.0)
        for i in out:
            if over > 0 and acq[i] > 0:
                spend += over * acq[i] * xa(i)
        allowance = 0.0
        if not fixed:
            for i in np.flatnonzero((arcs.tail == node) | (arcs.head == node)):
                rpw = P.rate_per_watt[arcs.edge[i]] / MBIT
                allowance += edge_floor(n) * max(bits / rpw, res.max_tx_power_w[node] * bits / rmax)
        return spend <= res.energy_budget_j[node] + allowance

    def _objective(self, var: dict, at: dict, rho: np.ndarray, energy_coef: np.ndarray):
        """w_loss * bound / scale + w_energy * energy / scale + w_latency * T / scale + binariness penalty."""
        prog, P = self.program, self.program.problem
        lc, w, arcs = P.learning, P.weights, prog.arcs
        sb, se, st = objective_scales(P)
        eta, beta = lc.learning_rate, lc.smoothness
        n = P.num_nodes
        drift = np.broadcast_to(np.asarray(lc.drift_per_s, float), (n,))
        sigma2 = np.broadcast_to(np.asarray(lc.grad_variance, float), (n,))
        T, s, u = var["T"][0], var["s"][0], var["u"][0]
        mix_t, mix_e = prog.mixing  # root-to-root exchange of a fixed forest, per round
        total = 0
        if w.loss > 0:
            exposure = (T + mix_t) if P.deadline_s is None else P.deadline_s  # a cadence drifts for the interval
            loss = C_GAP * lc.initial_gap / (eta * lc.rounds * s) + C_DRIFT * float(rho @ drift) * (exposure + P.min_idle_s) / (eta * s)
            loss += C_NOISE * eta * beta * cp.sum(cp.multiply(rho * sigma2, var["v"]))
            loss += C_DRIFT_LOCAL * (eta * beta) ** 2 * cluster_dissimilarity(lc, prog.num_trees) * u**2
            total += w.loss / sb * loss
        if w.energy > 0:
            compute = cp.sum(cp.multiply(energy_coef, cp.multiply(cp.multiply(var["e"], var["B"]), var["f"] ** 2)))
            x = np.ones(len(arcs.tail)) if prog.fixed else var["x"]
            senders = np.unique(arcs.tail)
            links = cp.sum(cp.multiply(var["P"][senders], var["au"][senders]))
            links += cp.sum(cp.multiply(x, cp.multiply(var["P"][arcs.head], var["ld"])))
            static = P.resources.static_power_w * P.resources.cycles_per_sample / GHZ
            if (static > 0).any():  # P_static e B c / f while training
                compute += cp.sum(cp.multiply(static, cp.multiply(cp.multiply(var["e"], var["B"]), var["f"] ** -1)))
            over = terminal_overhead_w(P.terminal_power_w)
            if over > 0:  # the terminals over the air time and while acquiring
                links += over * (cp.sum(var["au"][senders]) + cp.sum(cp.multiply(x, var["ld"])))
                acq = P.acquisition_s[arcs.edge]
                if (acq > 0).any():
                    links += over * cp.sum(cp.multiply(acq, x)) if not prog.fixed else over * float(acq.sum())
            total += w.energy / se * (compute + links + mix_e)
        if w.latency > 0 and P.deadline_s is None:  # on a cadence latency is free up to the deadline
            total += w.latency / st * (T + mix_t)
        if not prog.fixed and prog.penalty > 0:  # binariness: N / (sum x^2 + sum r^2), denominator condensed
            x, r = var["x"], var["r"]
            squares = _monomial_below([x[i] ** 2 for i in range(len(arcs.tail))] + [r[i] ** 2 for i in range(n)],
                                      np.r_[at["x"], at["r"]] ** 2)
            total += prog.penalty * prog.penalty_numerator / squares
        return total

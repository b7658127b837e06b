"""A compiled kernel (numba) for the per-member arithmetic of one step, in large communities.

At 1,000 members every numpy call of the step costs about 1-2 us, and the step makes some forty
of them on member arrays (the home batteries' limits, flow and energy, deficit and surplus, the
local market, the ledger, the energy-balance check), and a dozen more on the two community
storages' 2-entry arrays (call overhead only). This kernel does the same arithmetic in loops:

* :func:`pooled`: several storages serving one residual (``storage.split_pooled``, then
  ``storage.apply_flow``): the community storages, and the home batteries when pooled;
* :func:`members_before_grid`: each home battery's flow and energy (``storage.dispatch`` and
  ``storage.apply_flow``, or the flows of :func:`pooled`), the member's net, deficit and
  surplus, then the local market's pro-rata matching (``market.match``) and what is left for
  the community storages and the grid;
* :func:`members_settle`: the ledger's member entries (``TokenLedger.mint``, ``burn``,
  ``members_trade``, ``members_pay_community``, in that order) and the largest energy-balance
  error of a member;
* :func:`chargers_step`: the EV chargers' step (``ev.flows``, ``ev.apply_flow``, the
  departures, the next step's row of the sessions and the plug-ins).

Every entry is the numpy step's float in the same order of operations; only the totals are
summed in another order (left to right here, pairwise in numpy), so results agree to rounding
(``tests/test_sim_kernel.py``: 1e-9 on random communities under random levers). The numpy step
stays the reference (``Community(compiled=False)``) and still runs demand response, the
appliances and the tanks in both modes.

``Community`` imports this module (and numba) only from ``community.KERNEL_MIN_MEMBER_STEPS``
member-steps up: importing numba and loading the compiled functions costs about 0.55 s once per
process, which only long runs of large communities win back. The functions are compiled
once per machine and source (numba's on-disk cache, ``cache=True``, about 3 s) with explicit
signatures, so no call compiles.
"""

from __future__ import annotations

import numba as nb
import numpy as np

# Battery modes of members_before_grid.
IDLE, SCHEDULE, FOLLOW, GIVEN = 0, 1, 2, 3

_ARR = nb.types.Array(nb.float64, 1, "A", readonly=True)  # takes writable arrays too
_OUT = nb.float64[:]
_F64, _I64, _B1 = nb.float64, nb.int64, nb.boolean
# Finite inputs (the scenario and levers are checked): min and max become single instructions,
# with the same results (but for the sign of a zero); no reassociation, so the same sums.
_FAST = {"nnan", "ninf", "nsz"}


# One battery's physics (storage.flow_limits, dispatch's clip, apply_flow), per entry.
@nb.njit(
    nb.types.UniTuple(_F64, 2)(_F64, _F64, _F64, _F64, _F64, _F64),
    inline="always",
    cache=True,
    nogil=True,
    fastmath=_FAST,
)
def limits(e, e_max, e_min, eta_c, eta_d, p):
    return min(max((e_max - e) / eta_c, 0.0), p), min(max((e - e_min) * eta_d, 0.0), p)


@nb.njit(
    _F64(_F64, _F64, _F64, _F64, _F64, _F64),
    inline="always",
    cache=True,
    nogil=True,
    fastmath=_FAST,
)
def stored(e, flow, e_max, e_min, eta_c, eta_d):
    after = e + (flow * eta_c if flow > 0.0 else flow / eta_d)
    return min(max(after, e_min), e_max)


@nb.njit(
    nb.types.Tuple((_OUT, _OUT, _F64, _F64, _F64))(
        _ARR, _ARR, _ARR, _ARR, _ARR, _ARR, _F64, _ARR, _F64, _B1, _F64
    ),
    cache=True,
    nogil=True,
    fastmath=_FAST,
)
def pooled(
    energy, e_max, e_min, eta_c, eta_d, power, dt, setpoints, setpoint, follow, residual,
):  # fmt: skip
    """``storage.split_pooled`` then ``storage.apply_flow``: (flows, energy after, total,
    charge, discharge). ``setpoints``: one per storage, or empty for ``setpoint``. A step's
    most energy, ``power * dt``, is computed here (``StorageBank.step_power_kwh``'s float):
    one array fewer to read."""
    n = energy.size
    per_storage = setpoints.size == n
    floor, max_charge = np.empty(n), np.empty(n)
    sum_floor = sum_charge = 0.0
    for i in range(n):
        mc, md = limits(energy[i], e_max[i], e_min[i], eta_c[i], eta_d[i], power[i] * dt)
        s = setpoints[i] if per_storage else setpoint
        floor[i] = min(max(s * power[i] * dt, -md), mc)
        max_charge[i] = mc
        sum_floor += floor[i]
        sum_charge += mc
    if not follow or n == 0:
        flows = floor
    else:
        target = min(max(-residual, sum_floor), sum_charge)
        flows = np.maximum(floor, 0.0)  # nearest to zero within [floor, max_charge]
        rest = target - flows.sum()
        room = (max_charge - flows) if rest > 0.0 else (flows - floor)
        total_room = room.sum()
        if total_room > 0.0:
            flows = flows + room * (rest / total_room)
    after = np.empty(n)
    total = charge = discharge = 0.0
    for i in range(n):
        f = flows[i]
        after[i] = stored(energy[i], f, e_max[i], e_min[i], eta_c[i], eta_d[i])
        total += f
        charge += max(f, 0.0)
        discharge += max(-f, 0.0)
    return flows, after, total, charge, discharge


@nb.njit(
    nb.types.Tuple(
        (_OUT, _OUT, _OUT, _OUT, _OUT, _OUT, _F64, _F64, _F64, _F64, _F64, _F64, _F64, _F64)
    )(_ARR, _ARR, _ARR, _ARR, _ARR, _ARR, _ARR, _F64, _ARR, _F64, _I64, _ARR, _B1),
    cache=True,
    nogil=True,
    fastmath=_FAST,
)
def members_before_grid(
    own_net, energy, e_max, e_min, eta_c, eta_d, power, dt, setpoints, setpoint, mode,
    given, p2p,
):  # fmt: skip
    """(battery, energy after, bought, sold, residual deficit, residual surplus, demand,
    supply, volume, deficit total, surplus total, the members' net total, battery total,
    battery discharge).

    ``mode``: IDLE (no flow), SCHEDULE, FOLLOW (the setpoint is a floor, the battery
    covers its home's residual ``own_net``) or GIVEN (the flows ``given``, of
    :func:`pooled`); ``setpoints``: one per member, or empty for ``setpoint``."""
    n = own_net.size
    if mode == IDLE:
        battery, after = np.zeros(n), energy.copy()
    else:  # every entry is written below
        battery, after = np.empty(n), np.empty(n)
    deficit, surplus = np.empty(n), np.empty(n)
    demand = supply = net_total = battery_total = battery_discharge = 0.0
    per_member = setpoints.size == n
    for i in range(n):
        net = own_net[i]
        if mode != IDLE:
            e = energy[i]
            if mode == GIVEN:
                flow = given[i]
            else:
                p = power[i] * dt  # as pooled: one array fewer to read
                mc, md = limits(e, e_max[i], e_min[i], eta_c[i], eta_d[i], p)
                s = setpoints[i] if per_member else setpoint
                flow = s * power[i] * dt
                if mode == FOLLOW:
                    flow = min(max(-net, flow), p)
                flow = min(max(flow, -md), mc)
            after[i] = stored(e, flow, e_max[i], e_min[i], eta_c[i], eta_d[i])
            battery[i] = flow
            battery_total += flow
            if flow < 0.0:
                battery_discharge -= flow
            net = net + flow
        net_total += net
        d, u = max(net, 0.0), max(-net, 0.0)
        deficit[i], surplus[i] = d, u
        demand += d
        supply += u
    volume = min(demand, supply) if p2p else 0.0
    if volume > 0.0:
        buy, sell = volume / demand, volume / supply
    else:
        buy = sell = 0.0
    bought, sold = np.empty(n), np.empty(n)
    res_deficit, res_surplus = deficit, surplus  # in place: each entry is read before written
    deficit_total = surplus_total = 0.0
    for i in range(n):
        b, s = deficit[i] * buy, surplus[i] * sell
        bought[i], sold[i] = b, s
        res_deficit[i] = deficit[i] - b
        res_surplus[i] = surplus[i] - s
        deficit_total += res_deficit[i]
        surplus_total += res_surplus[i]
    return (
        battery, after, bought, sold, res_deficit, res_surplus, demand, supply, volume,
        deficit_total, surplus_total, net_total, battery_total, battery_discharge,
    )  # fmt: skip


@nb.njit(
    nb.types.Tuple((_F64, _F64, _F64, _F64, _F64))(
        _OUT, _ARR, _ARR, _ARR, _ARR, _ARR, _ARR, _ARR, _ARR, _F64, _F64, _F64, _F64, _F64
    ),
    cache=True,
    nogil=True,
    fastmath=_FAST,
)
def members_settle(
    balances, pv, res_deficit, res_surplus, bought, sold, flex_served, own_net, battery,
    mint_rate, burn, price, p_da, p_fi,
):  # fmt: skip
    """Apply the members' ledger entries to ``balances`` (in place); (minted, burned, paid
    to the community, the balances' total after, the largest |drawn - supplied|, drawn
    being ``own_net + battery``).

    ``p_fi``: the feed-in price times the share of export that was not curtailed; ``price``
    the P2P price (0: no trade); ``burn`` the burn rate (0: no burn)."""
    minted = burned = paid = total = err = 0.0
    for i in range(pv.size):
        b = balances[i]
        m = mint_rate * max(pv[i] - res_surplus[i], 0.0)
        b += m
        minted += m
        if burn > 0.0:
            x = burn * min(res_deficit[i], flex_served[i])
            b -= x
            burned += x
        if price != 0.0:
            b += sold[i] * price - bought[i] * price
        pay = res_deficit[i] * p_da - res_surplus[i] * p_fi
        b -= pay
        paid += pay
        balances[i] = b
        total += b
        supplied = bought[i] - sold[i] + res_deficit[i] - res_surplus[i]
        err = max(err, abs(own_net[i] + battery[i] - supplied))
    return minted, burned, paid, total, err


_INT = nb.types.Array(nb.int64, 1, "A", readonly=True)
_INT32 = nb.types.Array(nb.int32, 1, "A", readonly=True)
_BOOL = nb.types.Array(nb.boolean, 1, "A", readonly=True)


_OUT_I32 = nb.types.Array(nb.int32, 1, "A")
_OUT_BOOL = nb.types.Array(nb.boolean, 1, "A")


_CHARGERS_STEP = nb.types.Tuple((_OUT, _F64, _F64, _I64, _I64, _I64, _F64))(
    _I64, _B1,  # the step, whether a next one follows
    _INT, _INT32,  # where sessions start (ev.Changes) ...
    _INT32, _INT32, _INT32, _BOOL, _ARR, _ARR, _ARR, _ARR,  # ... and its by_start
    _OUT_BOOL, _OUT_BOOL, _OUT_BOOL, _OUT, _OUT, _OUT, _OUT,  # the row (ev.EVRow) ...
    _OUT_I32, _OUT_BOOL, _OUT_I32, _OUT_I32, _OUT_I32,  # ... in its fields' order
    _ARR, _ARR, _ARR, _INT,  # the chargers: power, efficiency, home
    _OUT, _OUT_BOOL, _ARR, _ARR, _F64, _B1, _I64, _F64, _OUT, _OUT,
)  # fmt: skip


# No fastmath here: a setpoint of NaN means "no lever" (uncontrolled charging).
@nb.njit(_CHARGERS_STEP, cache=True, nogil=True)
def chargers_step(
    t, advance,
    starts_at, session_of,
    b_charger, b_start, b_stop, b_departs, b_capacity, b_arrival_soc, b_required_soc, b_soc_min,
    connected, arrival, departs, capacity, arrival_soc, required_soc, soc_min,
    steps_left, required_now, session, start, stop,
    charge_kw, discharge_kw, efficiency, member,
    energy, feasible, setpoints, home_net, dt, follow, n_homes, tol, seen_energy, seen_connected,
):  # fmt: skip
    """The chargers' whole step ``t`` (``Community._step_evs`` in numpy), per charger:

    1. ``seen_energy`` / ``seen_connected`` get the energy and the plug state at the step's
       start (the observation's history row);
    2. ``ev.flows`` then ``ev.apply_flow`` (``energy`` in place);
    3. a departure after the step is counted, a short one against ``feasible``;
    4. with ``advance``, the row becomes step ``t + 1``'s in place (``EVChargers.row``): a
       session that ends there leaves its charger (``ev.padded``'s last entry, energy 0), and
       then the sessions that start there (``starts_at``, ``by_start``) are read, with
       ``ev.plug_in`` and whether the arriving EV's requirement can be reached.

    Returns (charging per home, flow total, energy total, departures, short departures,
    departures whose requirement was out of reach, the shortfall [kWh]). ``setpoints``: per
    charger, NaN for "no lever" (charging to the requirement)."""
    n = energy.size
    share = np.zeros(n_homes)  # connected EVs per home: a home's surplus is split among them
    if follow:
        for i in range(n):
            if connected[i]:
                share[member[i]] += 1.0
    home = np.zeros(n_homes)
    flow_total = energy_total = shortfall = 0.0
    departures = short_departures = infeasible = 0
    t1 = t + 1
    for i in range(n):
        e, cap, eta, s = energy[i], capacity[i], efficiency[i], setpoints[i]
        conn = connected[i]
        seen_energy[i] = e
        seen_connected[i] = 1.0 if conn else 0.0
        p_c = charge_kw[i] * dt if conn else 0.0
        p_d = discharge_kw[i] * dt if conn else 0.0
        max_c = min(p_c, max(cap - e, 0.0) / eta)
        max_d = min(p_d, max(e - soc_min[i] * cap, 0.0) * eta)
        if required_now[i] and conn:  # the departure floor (ev.limits)
            gap = required_soc[i] * cap - max(steps_left[i] - 1, 0) * p_c * eta - e
            floor = min(max(gap / eta if gap > 0.0 else gap * eta, -max_d), max_c)
        else:
            floor = -max_d
        needed = min(max(required_soc[i] * cap - e, 0.0) / eta, max_c)  # ev.to_required
        if np.isnan(s):
            flow = needed
        else:
            flow = s * (charge_kw[i] * dt) if s >= 0 else s * discharge_kw[i] * dt
            if follow and conn and flow >= 0:
                own = home_net[member[i]] / max(share[member[i]], 1.0)
                flow = max(flow, min(max(-own, 0.0), needed))
        flow = min(max(max(flow, floor), -max_d), max_c)
        stored = e + (flow * eta if flow > 0 else flow / eta)
        e = min(max(stored, 0.0), cap)
        home[member[i]] += flow
        flow_total += flow
        energy_total += e
        if departs[i] and required_now[i]:
            short = max(required_soc[i] * cap - e, 0.0)
            departures += 1
            if short > tol and feasible[i]:
                short_departures += 1
            if not feasible[i]:
                infeasible += 1
            shortfall += short
        if advance:
            if stop[i] == t1:  # the session ends: no EV (unless one arrives, below)
                session[i], start[i], stop[i], required_now[i] = -1, -1, 0, False
                capacity[i] = arrival_soc[i] = required_soc[i] = soc_min[i] = 0.0
                connected[i] = False
                e = 0.0
            arrival[i] = False
            departs[i] = required_now[i] and stop[i] == t1 + 1
            steps_left[i] = max(stop[i] - t1, 0)
        energy[i] = e
    if advance:
        for q in range(starts_at[t1], starts_at[t1 + 1]):
            i = b_charger[q]
            session[i], start[i], stop[i] = session_of[q], b_start[q], b_stop[q]
            required_now[i] = b_departs[q]
            cap = b_capacity[q]
            capacity[i], arrival_soc[i] = cap, b_arrival_soc[q]
            required_soc[i], soc_min[i] = b_required_soc[q], b_soc_min[q]
            connected[i] = arrival[i] = True
            departs[i] = b_departs[q] and b_stop[q] == t1 + 1
            left = b_stop[q] - t1
            steps_left[i] = left
            e = b_arrival_soc[q] * cap
            reach = min(e + left * charge_kw[i] * dt * efficiency[i], cap)
            feasible[i] = reach >= b_required_soc[q] * cap - tol
            energy[i] = e
    return home, flow_total, energy_total, departures, short_departures, infeasible, shortfall

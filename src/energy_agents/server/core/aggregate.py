"""Deciding: the window's messages -> Recommendations -> a strategy's Decision.

Two entry points. :func:`decide_step` is ``POST /decisions`` (the runner's, signed): it
decides a published step once, stores the decision and the strategy's state, and answers the
stored decision to a repeat. :func:`read_aggregate` is ``GET /aggregate``, a pure read: the
stored decision of the step, or else a decision computed over the window and not stored (the
seed's way of use without a runner); it writes nothing, so no page or stray client can make
the server decide, store or prune anything.

The window:

- **step mode** (a step is given, or the runner published a state): the latest message of
  each agent for that step. Plain seed messages posted while a state is published are stamped
  with its step when stored, so they count too.
- **recent mode** (no state was ever published and no step given: the seed's way of use):
  the latest message of each agent received within ``aggregate_window_s`` (default 300 s).

Never all history. The strategy's state (JSON) comes from the store: the decision for step
``s`` starts from the latest state saved for a step before ``s``, so deciding a step again gives
the same decision for the same messages, and no state lives in a worker's memory.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ...advisors.types import Recommendation
from ...coordination import make_strategy
from ...coordination.seed import count_keywords
from ...coordination.step import coordinate
from ...sim.observation import Observation
from ..store import DEFAULT_COMMUNITY, Store
from .validation import ApiError, seed_timestamp

log = logging.getLogger("energy_agents.server.aggregate")

DECIDE_ATTEMPTS = 3  # a step published again this often while being decided: 503, ask again


class ObservationCache:
    """Parsed observations by publication sequence number (immutable data: a cache, not
    state)."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._items: dict[tuple[int, int], Observation] = {}

    def get(self, seq: int, text: str) -> Observation:
        key = (seq, hash(text))
        with self._lock:
            obs = self._items.get(key)
        if obs is not None:
            return obs
        obs = Observation.from_dict(json.loads(text))
        with self._lock:
            if len(self._items) >= self.size:
                self._items.pop(next(iter(self._items)))
            self._items[key] = obs
        return obs


def recommendation_of(msg: Mapping[str, Any], step: int) -> Recommendation:
    """A stored message as the strategies see it, through the one parser
    (``Recommendation.from_dict``): a plain seed message has no step (the window's), levers
    or data; stored nulls take the parser's defaults."""
    fields = ("agent_name", "message", "levers", "data", "confidence", "expected_saving_ct")
    d = {k: msg[k] for k in fields if msg.get(k) is not None}
    d["step"] = msg["step"] if msg.get("step") is not None else step
    return Recommendation.from_dict(d)


def _strategy(strategy_name: str) -> Any:
    try:
        return make_strategy(strategy_name)
    except ValueError as exc:  # e.g. a strategy that needs the whole scenario
        raise ApiError(409, "strategy", f"cannot run on the server: {exc}") from None


def _published_step(store: Store, step: int | None, community: str) -> int | None:
    """``step`` checked against the latest published one (None: that one, or None before any
    publication). A step beyond it is refused: it has no observation, and deciding it would
    run the strategy's state ahead of the run."""
    latest = store.states.latest(community)
    if latest is None:
        if step is not None:
            raise ApiError(409, "step", f"step {step}: no state published yet")
        return None
    if step is None:
        return int(latest["step"])
    if step > latest["step"]:
        raise ApiError(409, "step", f"step {step} is beyond the published step {latest['step']}")
    return step


def compute(
    store: Store,
    strategy_name: str,
    step: int | None,
    *,
    window_s: float,
    observations: ObservationCache,
    community: str = DEFAULT_COMMUNITY,
) -> tuple[dict[str, Any], dict[str, Any] | None, int | None]:
    """The decision over the window of ``step`` (None: the recent window), the strategy's
    state after it (None in the recent window) and the publication (``seq``) of the
    observation it used (None: none). Reads only."""
    strategy = _strategy(strategy_name)
    obs: Observation | None = None
    seq: int | None = None
    if step is not None:
        found = store.states.observation_for(step, community)
        if found is not None:
            seq = found[0]
            obs = observations.get(*found)
        msgs = store.messages.window_for_step(step, community)
        window: dict[str, Any] = {"mode": "step", "step": step}
        state = store.decisions.state_before(strategy_name, step, community)
    else:
        since = time.time() - window_s
        msgs = store.messages.window_recent(since, community)
        window = {"mode": "recent", "since": since, "seconds": window_s}
        state = {}
    recs = [recommendation_of(m, step if step is not None else 0) for m in msgs]
    decision, new_state, rejected = _decide(strategy, obs, recs, state)
    out = decision.to_dict()
    out["details"] = count_keywords(r.message for r in recs)  # the seed's counts, any strategy
    out["step"] = step
    # ``timestamp`` is the seed's field: the step's simulated time when a state was published,
    # else the server's clock. ``sim_time`` and ``decided_at`` name the two apart.
    out["sim_time"] = obs.timestamp if obs is not None else None
    if not out.get("timestamp"):
        out["timestamp"] = seed_timestamp()
    out["message_ids"] = [m["message_id"] for m in msgs]
    out["window"] = window
    out["community"] = community
    if rejected:
        out["rejected"] = rejected
    return _finite(out), (new_state if step is not None else None), seq


def decide_step(
    store: Store,
    strategy_name: str,
    step: int,
    *,
    window_s: float,
    observations: ObservationCache,
    community: str = DEFAULT_COMMUNITY,
) -> dict[str, Any]:
    """``POST /decisions``: the decision of published ``step``, decided and stored once.

    Several workers or hosts may race on one step: each computes outside the write lock, the
    first to commit stores its decision, the others answer it. A step published again while
    it was being decided (a restarted runner) is decided again from the new observation."""
    _strategy(strategy_name)
    _published_step(store, step, community)
    for _ in range(DECIDE_ATTEMPTS):
        stored = store.decisions.decision_for(strategy_name, step, community)
        if stored is not None:
            return stored
        out, new_state, seq = compute(
            store,
            strategy_name,
            step,
            window_s=window_s,
            observations=observations,
            community=community,
        )
        saved = store.decisions.save_once(strategy_name, step, out, new_state or {}, seq, community)
        if saved is not None:
            return saved
    raise ApiError(503, "step", f"step {step} is being published again; ask again")


def read_aggregate(
    store: Store,
    strategy_name: str,
    step: int | None,
    *,
    window_s: float,
    observations: ObservationCache,
    community: str = DEFAULT_COMMUNITY,
) -> dict[str, Any]:
    """``GET /aggregate``: the stored decision of ``step`` (default: the latest published
    step); else the decision over its window (or, before any publication, the recent
    window), computed and not stored (``"stored": false``). Writes nothing."""
    _strategy(strategy_name)
    step = _published_step(store, step, community)
    if step is not None:
        stored = store.decisions.decision_for(strategy_name, step, community)
        if stored is not None:
            return dict(stored, stored=True)
    out, _, _ = compute(
        store,
        strategy_name,
        step,
        window_s=window_s,
        observations=observations,
        community=community,
    )
    out["decided_at"] = time.time()
    out["stored"] = False
    return out


def _decide(
    strategy: Any,
    obs: Observation | None,
    recs: Sequence[Recommendation],
    state: Mapping[str, Any],
) -> tuple[Any, dict[str, Any], list[str]]:
    """The batch loop's :func:`coordinate` on the posted recommendations; one a strategy cannot
    digest is left out and named."""
    try:
        decision, _, new_state = coordinate(strategy, obs, state, recs)
        return decision, new_state, []
    except Exception:
        log.exception("strategy %s failed on %d recommendations", strategy.name, len(recs))
    try:
        coordinate(strategy, obs, state, [])
    except Exception as exc:  # it cannot decide in this window at all (e.g. no observation)
        reason = f"{strategy.name} cannot decide this window: {exc}"
        if obs is None:
            reason += " (no observation published for this step)"
        raise ApiError(409, "strategy", reason) from None
    good, rejected = [], []
    for r in recs:
        try:
            coordinate(strategy, obs, state, [r])
            good.append(r)
        except Exception:
            rejected.append(r.agent_name)
    decision, _, new_state = coordinate(strategy, obs, state, good)
    return decision, new_state, rejected


def _finite(value: Any) -> Any:
    """JSON-safe: non-finite floats become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value

"""Typed answers of the AI Manager server. Each keeps the whole JSON in ``raw`` (the server may
add fields; a client should not lose them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import UnexpectedAnswer


def _obj(what: str, data: Any) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise UnexpectedAnswer(f"{what}: expected a JSON object, got {type(data).__name__}")
    return data


def _mapping(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _int_or_none(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


@dataclass(frozen=True)
class StateAck:
    """``POST /state`` accepted: the step published and its sequence number."""

    step: int
    seq: int | None
    signed: bool
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> StateAck:
        d = _obj("POST /state", data)
        step = _int_or_none(d.get("step"))
        if step is None:
            raise UnexpectedAnswer("POST /state: the answer names no step")
        return cls(step, _int_or_none(d.get("seq")), bool(d.get("signed")), d)


@dataclass(frozen=True)
class PublishedState:
    """``GET /state``: the latest observation the runner published."""

    step: int
    seq: int | None
    published_at: float | None
    observation: Mapping[str, Any]

    @classmethod
    def from_json(cls, data: Any) -> PublishedState | None:
        d = _obj("GET /state", data)
        obs = d.get("observation", d)
        if not isinstance(obs, Mapping) or _int_or_none(obs.get("step")) is None:
            return None
        at = d.get("published_at")
        return cls(
            int(obs["step"]),
            _int_or_none(d.get("seq")),
            float(at) if isinstance(at, int | float) else None,
            obs,
        )


@dataclass(frozen=True)
class Receipt:
    """``POST /receive`` accepted one message (``duplicate``: it was stored before)."""

    message_id: str | None
    step: int | None
    signed: bool
    duplicate: bool = False
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, duplicate: bool = False) -> Receipt:
        d = _obj("POST /receive", data)
        mid = d.get("message_id")
        return cls(
            mid if isinstance(mid, str) else None,
            _int_or_none(d.get("step")),
            bool(d.get("signed")),
            duplicate,
            d,
        )


@dataclass(frozen=True)
class Message:
    """One stored message of ``GET /messages`` (a recommendation or a seed-style text)."""

    agent_name: str
    message: str
    step: int | None
    message_id: str | None
    timestamp: str | None
    levers: Mapping[str, Any] | None
    confidence: float | None
    expected_saving_ct: float | None
    data: Mapping[str, Any] | None
    signed: bool
    received_at: float | None
    id: int | None
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> Message:
        d = _obj("GET /messages item", data)

        def num(key: str) -> float | None:
            v = d.get(key)
            return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

        ts = d.get("timestamp")
        return cls(
            agent_name=str(d.get("agent_name", "")),
            message=str(d.get("message", "")),
            step=_int_or_none(d.get("step")),
            message_id=d.get("message_id") if isinstance(d.get("message_id"), str) else None,
            timestamp=None if ts is None else str(ts),
            levers=d.get("levers") if isinstance(d.get("levers"), Mapping) else None,
            confidence=num("confidence"),
            expected_saving_ct=num("expected_saving_ct"),
            data=d.get("data") if isinstance(d.get("data"), Mapping) else None,
            signed=bool(d.get("signed")),
            received_at=num("received_at"),
            id=_int_or_none(d.get("id")),
            raw=d,
        )


@dataclass(frozen=True)
class Decision:
    """The coordinated decision of one step: ``parameters`` are the levers to apply
    (``Levers.to_dict()`` keys and units; docs/model.md)."""

    step: int | None
    strategy: str | None
    action: str
    parameters: Mapping[str, Any]
    details: Mapping[str, Any]
    followed: tuple[str, ...]
    overridden: tuple[str, ...]
    missing: tuple[str, ...]
    message_ids: tuple[str, ...]
    timestamp: str | None
    id: int | None
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, what: str = "decision") -> Decision:
        d = _obj(what, data)
        if isinstance(d.get("decision"), Mapping) and "parameters" not in d:
            d = d["decision"]  # an envelope {"decision": {...}, ...}
        params = d.get("parameters")
        if not isinstance(params, Mapping):
            raise UnexpectedAnswer(f"{what}: the answer has no parameters object")

        def names(key: str) -> tuple[str, ...]:
            v = d.get(key)
            return tuple(str(x) for x in v) if isinstance(v, list) else ()

        ts = d.get("timestamp")
        return cls(
            step=_int_or_none(d.get("step")),
            strategy=d.get("strategy") if isinstance(d.get("strategy"), str) else None,
            action=str(d.get("action", "")),
            parameters=params,
            details=_mapping(d.get("details")),
            followed=names("followed"),
            overridden=names("overridden"),
            missing=names("missing"),
            message_ids=names("message_ids"),
            timestamp=None if ts is None else str(ts),
            id=_int_or_none(d.get("id")),
            raw=d,
        )


@dataclass(frozen=True)
class FlushResult:
    """What one :meth:`ServerClient.flush_outbox` did: ``pending`` are still queued."""

    sent: int
    dead: int
    pending: int
    last_error: str | None = None

"""Parsing and validation of untrusted input: bodies and query parameters. No I/O.

Every refusal is an :class:`ApiError` naming the field and the reason; the views turn it
into a 4xx JSON answer ``{"error", "field", "reason"}``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from ...advisors.types import Recommendation, RecommendationError
from ...client.ids import COMMUNITY_NAME, COMMUNITY_RULE
from ...sim.levers import LeverError, Levers
from ...sim.observation import (
    APPLIANCE_FIELDS,
    EV_FIELDS,
    HISTORY_TABLES,
    MEMBER_HISTORY_FIELDS,
    PER_MEMBER_FIELDS,
    SERIES_FIELDS,
    STORAGE_FIELDS,
    TANK_FIELDS,
)
from ..store import DEFAULT_COMMUNITY, NewMessage

MAX_AGENT_NAME = 64
MAX_MESSAGE = 10_000
MAX_MESSAGE_ID = 128
MAX_TIMESTAMP = 64
MAX_STEP = 2**31 - 1
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"  # the seed's


def safe_text(text: object, max_len: int = 500) -> str:
    """``text`` as an error body may carry it: cut to ``max_len`` characters, with what cannot
    be encoded or shown (lone surrogates, NUL and other control characters) escaped as
    ``\\uXXXX``. Fields are built from untrusted keys, so this runs on every refusal."""
    s = str(text)[:max_len]
    if s.isascii() and s.isprintable():
        return s
    return "".join(
        c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF else f"\\u{ord(c):04x}" for c in s
    )


class ApiError(Exception):
    """A refused request: HTTP ``status`` and the ``field`` and ``reason`` of the refusal.
    Both are made safe to encode here (:func:`safe_text`), whatever input they came from."""

    def __init__(self, status: int, field: str | None, reason: str, error: str | None = None):
        field = None if field is None else safe_text(field, 200)
        reason = safe_text(reason, 1000)
        super().__init__(f"{field}: {reason}" if field else reason)
        self.status = status
        self.field = field
        self.reason = reason
        self.error = error or _ERROR_TITLES.get(status, "bad request")

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.error, "field": self.field, "reason": self.reason}


_ERROR_TITLES = {
    400: "bad request",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    409: "conflict",
    413: "payload too large",
    415: "unsupported media type",
    503: "service unavailable",
}


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes, field: str = "body") -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity, no absurd nesting."""
    if not body:
        raise ApiError(400, field, "empty body: expected JSON")
    try:
        text = body.decode("utf-8")
        return json.loads(text, parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise ApiError(400, field, "not UTF-8") from None
    except RecursionError:
        raise ApiError(400, field, "JSON nested too deeply") from None
    except ValueError as exc:
        raise ApiError(400, field, f"not JSON: {exc}") from None


def check_json_content_type(content_type: str | None) -> None:
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime != "application/json" and not (
        mime.startswith("application/") and mime.endswith("+json")
    ):
        raise ApiError(
            415, "Content-Type", f"must be application/json, got {content_type or 'nothing'!r}"
        )


def _text(field: str, value: Any, max_len: int, *, allow_empty: bool = True) -> str:
    if not isinstance(value, str):
        raise ApiError(400, field, "must be a string")
    if not allow_empty and not value.strip():
        raise ApiError(400, field, "must not be empty")
    if len(value) > max_len:
        raise ApiError(400, field, f"longer than {max_len} characters")
    if "\x00" in value:
        raise ApiError(400, field, "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, field, "must be valid Unicode (lone surrogate)") from None
    return value


def _check_json_tree(field: str, value: Any, depth: int = 0) -> None:
    """Strings inside free-form JSON must be storable (no lone surrogates, no NUL), numbers
    finite and in range, nesting bounded. ``value`` comes from ``json.loads`` (plain types)."""
    if depth > 32:
        raise ApiError(400, field, "nested too deeply (max 32)")
    t = type(value)
    if t is str:
        if "\x00" in value or len(value) > MAX_MESSAGE or not _storable(value):
            _text(field, value, MAX_MESSAGE)  # raises with the precise reason
    elif t is dict:
        for k, v in value.items():
            if type(v) in _SCALARS and type(k) is str and len(k) <= 200 and _storable(k):
                if type(v) is str:
                    _check_json_tree(f"{field}.{k}"[:200], v, depth + 1)
                elif type(v) is not bool and type(v) in (int, float):
                    _check_number(f"{field}.{k}"[:200], v)
                continue
            _text(f"{field}.{k}"[:200], k, 200)
            _check_json_tree(f"{field}.{k}"[:200], v, depth + 1)
    elif t is list:
        for i, v in enumerate(value):
            _check_json_tree(f"{field}[{i}]", v, depth + 1)
    elif t is int or t is float:
        _check_number(field, value)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _storable(text: str) -> bool:
    if text.isascii():
        return "\x00" not in text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _check_number(field: str, value: int | float) -> None:
    if type(value) is int:
        if abs(value) > 2**63:
            raise ApiError(400, field, "integer out of range")
    elif not math.isfinite(value):
        raise ApiError(400, field, "must be finite")


def seed_timestamp(now: float | None = None) -> str:
    return time.strftime(TIMESTAMP_FORMAT, time.gmtime(time.time() if now is None else now))


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def parse_message(item: Any, prefix: str = "") -> NewMessage:
    """One message: the seed's plain ``{agent_name, message, timestamp}`` or a structured
    recommendation (``Recommendation.to_dict()``, recognized by ``step`` or
    ``schema_version``), each with optional ``message_id`` and ``timestamp``. Other keys are
    ignored."""
    if not isinstance(item, Mapping):
        raise ApiError(400, prefix.rstrip(".") or "body", "must be a JSON object")
    p = prefix
    for key, value in item.items():  # storable strings, sane numbers, bounded depth
        _check_json_tree(p + str(key)[:100], value)
    if "agent_name" not in item:
        raise ApiError(400, p + "agent_name", "missing")
    agent = _text(p + "agent_name", item["agent_name"], MAX_AGENT_NAME, allow_empty=False)
    if not agent.isprintable():
        raise ApiError(400, p + "agent_name", "must be printable characters")
    if "message" not in item:
        raise ApiError(400, p + "message", "missing")
    message = _text(p + "message", item["message"], MAX_MESSAGE)
    message_id = None
    if item.get("message_id") is not None:
        message_id = _text(p + "message_id", item["message_id"], MAX_MESSAGE_ID, allow_empty=False)
        if not message_id.isprintable():
            raise ApiError(400, p + "message_id", "must be printable characters")
    ts_value = item.get("timestamp")
    if ts_value is None:
        timestamp = seed_timestamp()
    elif isinstance(ts_value, bool):
        raise ApiError(400, p + "timestamp", "must be a string or unix seconds")
    elif isinstance(ts_value, int | float):
        if not math.isfinite(ts_value) or not 0 <= ts_value < 1e11:
            raise ApiError(400, p + "timestamp", "unix seconds out of range")
        timestamp = seed_timestamp(float(ts_value))
    else:
        timestamp = _text(p + "timestamp", ts_value, MAX_TIMESTAMP)
    known = {
        k: item[k]
        for k in (
            "agent_name",
            "message",
            "message_id",
            "timestamp",
            "step",
            "schema_version",
            "levers",
            "confidence",
            "expected_saving_ct",
            "data",
        )
        if k in item
    }
    body_hash = hashlib.sha256(_canonical(known).encode()).hexdigest()
    structured = "step" in item or "schema_version" in item
    if not structured:
        return NewMessage(agent, message, timestamp, message_id, None, body_hash=body_hash)
    try:
        rec = Recommendation.from_dict(item)
    except RecommendationError as exc:
        field, _, reason = str(exc).partition(": ")
        raise ApiError(400, p + field, reason or str(exc)) from None
    if rec.step > MAX_STEP:
        raise ApiError(400, p + "step", f"must be <= {MAX_STEP}")
    try:
        Levers.from_dict(rec.levers)
    except LeverError as exc:
        field, _, reason = str(exc).partition(": ")
        field = "levers" + field[len("parameters") :] if field.startswith("parameters") else field
        raise ApiError(400, p + field, reason or str(exc)) from None
    check_levers(rec.levers, p + "levers")
    return NewMessage(
        agent_name=agent,
        message=message,
        timestamp=timestamp,
        message_id=message_id,
        step=rec.step,
        schema_version=1,
        levers=_canonical(dict(rec.levers)) if rec.levers else "{}",
        confidence=rec.confidence,
        expected_saving_ct=rec.expected_saving_ct,
        data=_canonical(dict(rec.data)) if rec.data else "{}",
        body_hash=body_hash,
    )


def parse_receive(data: Any, max_batch: int) -> tuple[list[NewMessage], bool]:
    """The messages of a ``POST /receive`` body and whether it was a batch (a JSON array)."""
    if isinstance(data, list):
        if not data:
            raise ApiError(400, "body", "empty batch")
        if len(data) > max_batch:
            raise ApiError(413, "body", f"batch of {len(data)} messages; at most {max_batch}")
        return [parse_message(item, f"[{i}].") for i, item in enumerate(data)], True
    if isinstance(data, dict):
        return [parse_message(data)], False
    raise ApiError(400, "body", "must be a JSON object or an array of objects")


# ---------------------------------------------------------------------- query parameters
def int_param(
    args: Mapping[str, str],
    name: str,
    *,
    lo: int = 0,
    hi: int = MAX_STEP,
    default: int | None = None,
) -> int | None:
    text = args.get(name)
    if text is None or text == "":
        return default
    t = text.strip()
    digits = t[1:] if t.startswith("-") else t
    # ASCII digits only: str.isdigit() is also true for "²" or "①", which int() refuses
    if not (digits.isascii() and digits.isdigit()) or len(t) > 19:
        raise ApiError(400, name, "must be an integer (ASCII digits)")
    value = int(t)
    if not lo <= value <= hi:
        raise ApiError(400, name, f"must be between {lo} and {hi}")
    return value


def since_param(args: Mapping[str, str], name: str = "since") -> float | None:
    """Unix seconds, or an ISO 8601 date-time (UTC unless it names an offset)."""
    text = args.get(name)
    if text is None or text == "":
        return None
    if not text.isascii():  # float() would take other scripts' digits
        raise ApiError(400, name, "must be unix seconds or an ISO 8601 date-time")
    try:
        value = float(text)
    except ValueError:
        try:
            dt = datetime.fromisoformat(text.strip())
        except ValueError:
            raise ApiError(400, name, "must be unix seconds or an ISO 8601 date-time") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    if not math.isfinite(value):
        raise ApiError(400, name, "must be a finite number")
    return value


def cursor_param(args: Mapping[str, str]) -> int | None:
    text = args.get("cursor")
    if text is None or text == "":
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise ApiError(400, "cursor", "not a cursor from a previous page")
    return int(text)


def text_param(args: Mapping[str, str], name: str, max_len: int = MAX_AGENT_NAME) -> str | None:
    text = args.get(name)
    if text is None:
        return None
    return _text(name, text, max_len, allow_empty=False)


def check_community(name: str | None, served: Sequence[str] = ()) -> str:
    """A community's name (None or empty: the default one); ``served``, when not empty, is
    the only ones this server accepts."""
    if name is None or name == "":
        name = DEFAULT_COMMUNITY
    elif not COMMUNITY_NAME.fullmatch(name):
        raise ApiError(400, "community", f"must be {COMMUNITY_RULE}")
    if served and name not in served:
        raise ApiError(
            404, "community", f"{name!r} is not served here (served: {', '.join(served)})"
        )
    return name


def community_param(args: Mapping[str, str], served: Sequence[str] = ()) -> str:
    """``?community=NAME`` (every endpoint; absent: the default community)."""
    getlist = getattr(args, "getlist", None)
    if getlist is not None and len(getlist("community")) > 1:
        raise ApiError(400, "community", "given more than once")
    return check_community(args.get("community"), served)


def community_of_query(query: str, served: Sequence[str] = ()) -> str:
    """:func:`community_param` from a raw query string (the fast ``POST /receive`` paths)."""
    if "community" not in query:  # the common case: nothing to parse
        return check_community(None, served)
    values = parse_qs(query, keep_blank_values=True).get("community", [])
    if len(values) > 1:
        raise ApiError(400, "community", "given more than once")
    return check_community(values[0] if values else None, served)


# ---------------------------------------------------------------------- levers at the door
MAX_STORAGES = 64
"""Storages a ``storage_setpoints`` object may name (the model's storages, ``members``
included; a community of this model has a handful)."""
MAX_CHARGERS = 100_000
"""EV chargers (or appliances) an ``ev_setpoints`` (``appliance_start``) object may name: one or
two per home of a large community."""
MAX_LEVER_KWH = 1e9
"""Largest ``procurement_kwh`` / ``|exchange_target_kwh|`` (a TWh per step: no community)."""
MAX_BURN_RATE = 1e6
"""Largest ``burn_rate_ct_per_kwh`` (the model clips to the scenario's maximum, 1 CT/kWh by
default)."""


def check_levers(levers: Mapping[str, Any], field: str) -> None:
    """Refuse at the door what the model can never apply (it clips the rest): a negative or
    absurd burn rate or procurement, setpoints outside [-1, 1] (discharge fully .. charge
    fully), more storages than a community has. ``levers`` passed ``Levers.from_dict``."""
    bounds = {
        "burn_rate_ct_per_kwh": (0.0, MAX_BURN_RATE),
        "procurement_kwh": (0.0, MAX_LEVER_KWH),
        "exchange_target_kwh": (-MAX_LEVER_KWH, MAX_LEVER_KWH),
    }
    for key, (lo, hi) in bounds.items():
        value = levers.get(key)
        if value is not None and not lo <= value <= hi:
            raise ApiError(400, f"{field}.{key}", f"must be between {lo:g} and {hi:g}")
    starts = levers.get("appliance_start") or {}
    if len(starts) > MAX_CHARGERS:
        raise ApiError(
            400, f"{field}.appliance_start", f"{len(starts)} entries; at most {MAX_CHARGERS}"
        )
    for name in starts:
        _text(f"{field}.appliance_start", name, MAX_AGENT_NAME, allow_empty=False)
    for key, most in (
        ("storage_setpoints", MAX_STORAGES),
        ("battery_setpoints", MAX_CHARGERS),  # one per home
        ("ev_setpoints", MAX_CHARGERS),
        ("thermal_setpoints", MAX_CHARGERS),  # one tank per building and use: as many
    ):
        setpoints = levers.get(key) or {}
        if len(setpoints) > most:
            raise ApiError(400, f"{field}.{key}", f"{len(setpoints)} entries; at most {most}")
        for name, value in setpoints.items():
            _text(f"{field}.{key}", name, MAX_AGENT_NAME, allow_empty=False)
            if not -1.0 <= value <= 1.0:
                raise ApiError(400, f"{field}.{key}.{name}", "must be between -1 and 1")


# ---------------------------------------------------------------------- observations
_OBS_INTS = {  # name: lowest value
    "step": 0,
    "n_steps": 1,
    "steps_per_day": 1,
    "period_steps_left": 0,
    "block_steps_left": 0,
}
_OBS_NUMBERS = (
    "dt_h",
    "elasticity",
    "max_burn_rate_ct_per_kwh",
    "token_supply_ct",
    "cumulative_cost_ct",
    "period_peak_import_kw",
    "block_peak_net_kwh",  # or null
)


def _is_number(v: Any) -> bool:
    return type(v) in (int, float) and math.isfinite(v)


def _numbers(field: str, value: Any) -> list:
    if not isinstance(value, list):
        raise ApiError(400, field, "must be an array of numbers")
    for i, v in enumerate(value):
        if not _is_number(v):
            raise ApiError(400, f"{field}[{i}]", "must be a finite number")
    return value


def _names(field: str, value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ApiError(400, field, "must be an array of names")
    for i, v in enumerate(value):
        _text(f"{field}[{i}]", v, MAX_AGENT_NAME, allow_empty=False)
    if len(set(value)) != len(value):
        raise ApiError(400, field, "names must be unique")
    return value


def validate_observation(obs: Mapping[str, Any], field: str = "observation") -> None:
    """Every field of an ``Observation.to_dict()`` checked for type and shape before it is
    stored: what the agents and strategies read later must parse (a wrongly typed field once
    passed and made ``/aggregate?strategy=mpc`` answer 409). Optional fields may be absent;
    unknown keys are ignored."""
    from dataclasses import MISSING, fields

    from ...sim.observation import Observation

    for f in fields(Observation):
        if f.name not in obs and f.default is MISSING and f.default_factory is MISSING:
            raise ApiError(400, f"{field}.{f.name}", "missing")
    for name, lo in _OBS_INTS.items():
        v = obs.get(name, lo)
        if type(v) is not int or not lo <= v <= MAX_STEP:
            raise ApiError(
                400, f"{field}.{name}", f"must be an integer between {lo} and {MAX_STEP}"
            )
    ts = obs["timestamp"]
    if not isinstance(ts, str) or len(ts) != 19:
        raise ApiError(400, f"{field}.timestamp", f"must be a string {TIMESTAMP_FORMAT!r}")
    try:
        datetime.strptime(ts, TIMESTAMP_FORMAT)
    except ValueError:
        raise ApiError(
            400, f"{field}.timestamp", f"must be a string {TIMESTAMP_FORMAT!r}"
        ) from None
    for name in _OBS_NUMBERS:
        v = obs.get(name, 0.0)
        if not (_is_number(v) or (v is None and name == "block_peak_net_kwh")):
            raise ApiError(400, f"{field}.{name}", "must be a finite number")
    if not obs["dt_h"] > 0:
        raise ApiError(400, f"{field}.dt_h", "must be > 0 hours")
    if obs["max_burn_rate_ct_per_kwh"] < 0:
        raise ApiError(400, f"{field}.max_burn_rate_ct_per_kwh", "must be >= 0")
    members = _names(f"{field}.member_names", obs["member_names"])
    storages = _names(f"{field}.storage_names", obs["storage_names"])
    if len(storages) > MAX_STORAGES:
        raise ApiError(400, f"{field}.storage_names", f"at most {MAX_STORAGES} storages")
    for name in PER_MEMBER_FIELDS:
        if len(_numbers(f"{field}.{name}", obs[name])) != len(members):
            raise ApiError(
                400, f"{field}.{name}", f"must have one number per member ({len(members)})"
            )
    for name in SERIES_FIELDS:
        if name in obs:
            _numbers(f"{field}.{name}", obs[name])
    for name in MEMBER_HISTORY_FIELDS:
        rows = obs[name]
        if not isinstance(rows, list):
            raise ApiError(400, f"{field}.{name}", "must be an array of per-member arrays")
        for i, row in enumerate(rows):
            if len(_numbers(f"{field}.{name}[{i}]", row)) != len(members):
                raise ApiError(400, f"{field}.{name}[{i}]", f"must have {len(members)} numbers")
    for name in STORAGE_FIELDS:
        d = obs[name]
        if not isinstance(d, dict) or set(d) != set(storages):
            raise ApiError(400, f"{field}.{name}", "must map each of storage_names to a number")
        for k, v in d.items():
            if not _is_number(v):
                raise ApiError(400, f"{field}.{name}.{k}", "must be a finite number")
    for names_key, group, what in (
        ("ev_names", EV_FIELDS, "charger"),
        ("appliance_names", APPLIANCE_FIELDS, "appliance"),
        ("tank_names", TANK_FIELDS, "tank"),
    ):  # the devices' optional per-device arrays, one number per named device
        devices = _names(f"{field}.{names_key}", obs.get(names_key, []))
        if len(devices) > MAX_CHARGERS:
            raise ApiError(400, f"{field}.{names_key}", f"at most {MAX_CHARGERS} {what}s")
        for name in group:
            if (name in obs or devices) and len(_numbers(f"{field}.{name}", obs.get(name))) != len(
                devices
            ):
                raise ApiError(
                    400, f"{field}.{name}", f"must have one number per {what} ({len(devices)})"
                )
    for name, names_key in HISTORY_TABLES.items():  # optional: one row per past step
        what = "tank" if names_key == "tank_names" else "charger"
        n_devices = len(obs.get(names_key, []))
        rows = obs.get(name, [])
        if not isinstance(rows, list):
            raise ApiError(400, f"{field}.{name}", f"must be an array of per-{what} arrays")
        for i, row in enumerate(rows):
            if len(_numbers(f"{field}.{name}[{i}]", row)) != n_devices:
                raise ApiError(400, f"{field}.{name}[{i}]", f"must have {n_devices} numbers")
    for name in ("tariff", "objective"):
        if name in obs and not isinstance(obs[name], dict):
            raise ApiError(400, f"{field}.{name}", "must be an object")
    last = obs["last_levers"]
    if last is not None:
        try:
            levers = Levers.from_dict(last)
        except LeverError as exc:
            key, _, reason = str(exc).partition(": ")
            raise ApiError(400, f"{field}.last_levers{key[len('parameters') :]}", reason) from None
        check_levers(levers.to_dict(), f"{field}.last_levers")

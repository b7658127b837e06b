"""The OpenAPI 3 description of the server, built here so it stays next to the limits it
states (the fuzz tests run against it: every documented status and schema must hold)."""

from __future__ import annotations

from typing import Any

from ...advisors.types import AGENT_NAMES
from ...client.ids import COMMUNITY_NAME, COMMUNITY_RULE, DEFAULT_COMMUNITY
from ...sim.levers import P2P_PRICE_RULES
from ..core.config import DEFAULT_PAGE, MAX_PAGE, ServerConfig
from ..core.validation import MAX_AGENT_NAME, MAX_MESSAGE, MAX_MESSAGE_ID, MAX_STEP, MAX_TIMESTAMP

REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _json(schema: dict[str, Any], description: str, headers: dict | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        out["headers"] = headers
    return out


PAGE_HEADERS = {
    "X-Next-Cursor": {
        "description": "cursor of the next page (absent on the last page)",
        "schema": {"type": "string"},
    },
    "Link": {
        "description": 'RFC 8288 link to the next page, rel="next"',
        "schema": {"type": "string"},
    },
}

READ_ERRORS = {
    "400": _error("a query parameter is wrong (the answer names it)"),
    "401": _error("the server wants a bearer token for reads"),
    "503": _error("the database is unavailable"),
}


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _signature_params() -> list[dict[str, Any]]:
    return [
        {
            "name": h,
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": d,
        }
        for h, d in (
            ("X-Agent-Address", "the signing agent's address (agent1...)"),
            ("X-Agent-Timestamp", "unix seconds when signed; within the server's window"),
            ("X-Agent-Nonce", "a string this agent never sent before"),
            (
                "X-Agent-Signature",
                "sign_digest of sha256(METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nsha256(body))",
            ),
        )
    ]


def schemas(max_batch: int) -> dict[str, Any]:
    text = {"type": "string"}
    levers = {
        "type": "object",
        "description": "proposed values for some levers (keys and units of Levers)",
        "additionalProperties": False,
        "properties": {
            "burn_rate_ct_per_kwh": {"type": "number"},
            "procurement_kwh": {"type": "number"},
            "storage_setpoints": {"type": "object", "additionalProperties": {"type": "number"}},
            "storage_follow": {"type": "boolean"},
            "p2p_enabled": {"type": "boolean"},
            "home_batteries_pooled": {"type": "boolean"},
            "p2p_price_rule": {"type": "string", "enum": list(P2P_PRICE_RULES)},
        },
    }
    timestamp = {
        "description": "the sender's time: free text (the seed's 'YYYY-MM-DD HH:MM:SS') or unix "
        "seconds (stored as that text, UTC); the server's time when absent",
        "oneOf": [
            {"type": "string", "maxLength": MAX_TIMESTAMP},
            {"type": "number", "minimum": 0, "maximum": 1e11},
        ],
    }
    common = {
        "agent_name": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_AGENT_NAME,
            "description": f"one of {', '.join(AGENT_NAMES)} for signed posts",
        },
        "message": {"type": "string", "maxLength": MAX_MESSAGE},
        "message_id": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_MESSAGE_ID,
            "description": "client-chosen id: a post repeated with the same id and body is "
            "answered the same and stored once",
        },
        "timestamp": timestamp,
    }
    return {
        "Error": {
            "type": "object",
            "required": ["error", "field", "reason"],
            "properties": {
                "error": text,
                "field": {"type": ["string", "null"], "description": "the field refused"},
                "reason": text,
            },
        },
        "SeedMessage": {
            "type": "object",
            "description": "the seed's message",
            "required": ["agent_name", "message"],
            "properties": dict(common),
        },
        "Recommendation": {
            "type": "object",
            "description": "a structured recommendation (Recommendation.to_dict(), schema 1)",
            "required": ["agent_name", "step", "message"],
            "properties": {
                **common,
                "schema_version": {"type": "integer", "enum": [1]},
                "step": {"type": "integer", "minimum": 0, "maximum": MAX_STEP},
                "levers": levers,
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                "expected_saving_ct": {"type": "number"},
                "data": {"type": "object"},
            },
        },
        "MessageIn": {"anyOf": [_ref("SeedMessage"), _ref("Recommendation")]},
        "ReceiveBody": {
            "oneOf": [
                _ref("MessageIn"),
                {"type": "array", "minItems": 1, "maxItems": max_batch, "items": _ref("MessageIn")},
            ]
        },
        "Received": {
            "type": "object",
            "required": ["status", "message"],
            "properties": {
                "status": {"type": "string", "enum": ["success"]},
                "message": text,
                "message_id": text,
                "step": {"type": ["integer", "null"]},
                "signed": {"type": "boolean"},
                "count": {"type": "integer"},
                "messages": {"type": "array", "items": {"type": "object"}},
            },
        },
        "MessageOut": {
            "type": "object",
            "required": [
                "agent_name",
                "message",
                "timestamp",
                "message_id",
                "signed",
                "received_at",
            ],
            "properties": {
                "agent_name": text,
                "message": text,
                "timestamp": text,
                "message_id": text,
                "step": {"type": "integer"},
                "schema_version": {"type": "integer"},
                "levers": {"type": "object"},
                "confidence": {"type": "number"},
                "expected_saving_ct": {"type": "number"},
                "data": {"type": "object"},
                "signed": {"type": "boolean"},
                "received_at": {"type": "number", "description": "unix seconds, server clock"},
                "id": {"type": "integer"},
            },
        },
        "Decision": {
            "type": "object",
            "required": ["action", "details", "timestamp", "parameters", "strategy", "step"],
            "properties": {
                "action": text,
                "details": {
                    "type": "object",
                    "required": [
                        "high_demand_count",
                        "deficit_count",
                        "surplus_count",
                        "undercharged_count",
                        "optimal_count",
                    ],
                    "additionalProperties": {"type": "integer"},
                },
                "timestamp": text,
                "parameters": {"type": "object"},
                "strategy": text,
                "step": {"type": ["integer", "null"]},
                "followed": {"type": "array", "items": text},
                "overridden": {"type": "array", "items": text},
                "missing": {"type": "array", "items": text},
                "message_ids": {"type": "array", "items": text},
                "window": {"type": "object"},
                "data": {"type": "object"},
                "id": {"type": "integer"},
                "decided_at": {"type": "number", "description": "unix seconds, server clock"},
                "sim_time": {
                    "type": ["string", "null"],
                    "description": "the step's simulated time (its published state), or null",
                },
                "stored": {
                    "type": "boolean",
                    "description": "GET /aggregate: false when computed and not stored",
                },
            },
        },
        "StateIn": {
            "type": "object",
            "required": ["observation"],
            "properties": {
                "observation": {"type": "object", "description": "Observation.to_dict()"},
                "record": {
                    "type": ["object", "null"],
                    "description": "the record of the step just finished (with its 'step')",
                },
                "kpis": {"type": ["object", "null"], "description": "running KPIs"},
            },
        },
        "State": {
            "type": "object",
            "required": ["step", "seq", "published_at", "observation"],
            "properties": {
                "step": {"type": "integer"},
                "seq": {"type": "integer"},
                "published_at": {"type": "number"},
                "observation": {"type": "object"},
            },
        },
    }


PER_COMMUNITY = ("/receive", "/messages", "/aggregate", "/decisions", "/state", "/series", "/kpis")


def _add_community(paths: dict[str, Any], config: ServerConfig) -> None:
    """``?community=NAME`` on every endpoint that reads or writes a community's rows."""
    served = (
        f"; this server serves only: {', '.join(config.communities)}" if config.communities else ""
    )
    param = _param(
        "community",
        {"type": "string", "pattern": f"^{COMMUNITY_NAME.pattern}$", "default": DEFAULT_COMMUNITY},
        f"the community (default {DEFAULT_COMMUNITY!r}; {COMMUNITY_RULE}); on a signed POST "
        f"it is part of the signed path{served}",
    )
    for path in PER_COMMUNITY:
        for op in paths.get(path, {}).values():
            op["parameters"] = [*op.get("parameters", []), param]
            op.setdefault("responses", {}).setdefault(
                "404" if config.communities else "400",
                _error("community: not a valid name, or not served here"),
            )


def openapi_document(config: ServerConfig) -> dict[str, Any]:
    page = {
        "limit": _param(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
            f"page size (default {DEFAULT_PAGE}, at most {MAX_PAGE})",
        ),
        "cursor": _param(
            "cursor",
            {"type": "string", "pattern": "^[0-9]{1,18}$"},
            "X-Next-Cursor of the previous page",
        ),
    }
    strategy = _param("strategy", {"type": "string"}, "a registered strategy (400 if unknown)")
    step = _param("step", {"type": "integer", "minimum": 0, "maximum": MAX_STEP}, "simulation step")
    post_errors = {
        "400": _error("not JSON, not an object/array, a field missing or wrong (named)"),
        "401": _error("signature missing, wrong or stale"),
        "403": _error(
            "address not allowed, not the agent named in the message, the key of another "
            "role, or a browser request from another origin (Origin, Sec-Fetch-Site)"
        ),
        "409": _error("replayed nonce, or message_id reused with a different body"),
        "413": _error("body or batch too large"),
        "415": _error("Content-Type is not application/json"),
        "503": _error("the database is unavailable; nothing was stored"),
    }
    paths: dict[str, Any] = {
        "/": {
            "get": {
                "summary": "the seed's welcome text",
                "responses": {
                    "200": {
                        "description": "welcome",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/receive": {
            "post": {
                "summary": "store an agent's message, a recommendation, or a batch of them",
                "description": "Stored durably (committed) before the answer. Signed with the "
                "X-Agent-* headers; unsigned posts only when the server allows them.",
                "parameters": _signature_params(),
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("ReceiveBody")}},
                },
                "responses": {
                    "200": _json(
                        _ref("Received"),
                        "stored (or already stored under this message_id)",
                        {
                            "X-Duplicate": {
                                "description": "true: stored before",
                                "schema": {"type": "string"},
                            }
                        },
                    ),
                    **post_errors,
                },
            }
        },
        "/messages": {
            "get": {
                "summary": "stored messages, oldest first, one page",
                "parameters": [
                    _param(
                        "agent",
                        {"type": "string", "minLength": 1, "maxLength": MAX_AGENT_NAME},
                        "agent_name",
                    ),
                    step,
                    _param(
                        "since",
                        {"type": "string"},
                        "received at or after: unix seconds or ISO 8601 date-time",
                    ),
                    page["limit"],
                    page["cursor"],
                    _param(
                        "order",
                        {"type": "string", "enum": ["asc", "desc"]},
                        "asc (default) or desc",
                    ),
                ],
                "responses": {
                    "200": _json(
                        {"type": "array", "items": _ref("MessageOut")}, "a page", PAGE_HEADERS
                    ),
                    **READ_ERRORS,
                },
            }
        },
        "/aggregate": {
            "get": {
                "summary": "a pure read: the stored decision of the step (default: the latest "
                "published), else the decision over its window computed and not stored",
                "parameters": [strategy, step],
                "responses": {
                    "200": _json(_ref("Decision"), "the decision (stored: true or false)"),
                    "409": _error(
                        "a step beyond the published one (field step), or a strategy that "
                        "cannot decide this window (field strategy)"
                    ),
                    **READ_ERRORS,
                },
            }
        },
        "/decisions": {
            "post": {
                "summary": "the runner asks for the decision of a published step: decided "
                "once and stored; a repeat answers the stored decision",
                "description": "Signed by the 'runner' identity, or Authorization: Bearer "
                "<runner token>; unsigned only with --allow-unsigned --allow-unsigned-runner.",
                "parameters": _signature_params(),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["step"],
                                "additionalProperties": False,
                                "properties": {
                                    "step": {"type": "integer", "minimum": 0, "maximum": MAX_STEP},
                                    "strategy": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json(_ref("Decision"), "the stored decision of the step"),
                    **post_errors,
                    "409": _error(
                        "a step beyond the published one (field step), a strategy that cannot "
                        "decide it (strategy), or a replayed nonce"
                    ),
                },
            },
            "get": {
                "summary": "stored decisions, newest first, one page",
                "parameters": [strategy, page["limit"], page["cursor"]],
                "responses": {
                    "200": _json(
                        {"type": "array", "items": _ref("Decision")}, "a page", PAGE_HEADERS
                    ),
                    **READ_ERRORS,
                },
            },
        },
        "/state": {
            "get": {
                "summary": "the latest published observation (agents poll it)",
                "responses": {
                    "200": _json(_ref("State"), "the latest state"),
                    "404": _error("no state published yet"),
                    **READ_ERRORS,
                },
            },
            "post": {
                "summary": "the runner publishes the observation of the next step",
                "description": "Signed by the 'runner' identity, or Authorization: Bearer "
                "<runner token>; unsigned only when the server allows it.",
                "parameters": _signature_params(),
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("StateIn")}},
                },
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["status", "step", "seq"],
                            "properties": {
                                "status": {"type": "string"},
                                "step": {"type": "integer"},
                                "seq": {"type": "integer"},
                                "signed": {"type": "boolean"},
                            },
                        },
                        "published",
                    ),
                    **post_errors,
                },
            },
        },
        "/series": {
            "get": {
                "summary": "per-step records from since_step on (the dashboard plots them)",
                "parameters": [
                    _param(
                        "since_step",
                        {"type": "integer", "minimum": 0, "maximum": MAX_STEP},
                        "first step",
                    ),
                    _param(
                        "limit", {"type": "integer", "minimum": 1, "maximum": 10000}, "default 1000"
                    ),
                ],
                "responses": {
                    "200": _json(
                        {"type": "array", "items": {"type": "object"}}, "records", PAGE_HEADERS
                    ),
                    **READ_ERRORS,
                },
            }
        },
        "/kpis": {
            "get": {
                "summary": "the latest running KPIs ({} before the first state)",
                "responses": {"200": _json({"type": "object"}, "KPIs"), **READ_ERRORS},
            }
        },
        "/health": {
            "get": {
                "summary": "liveness and database reachability",
                "responses": {
                    "200": _json({"type": "object", "required": ["status"]}, "ok"),
                    "503": _json(
                        {"type": "object", "required": ["status"]}, "database unavailable"
                    ),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus text exposition",
                "responses": {
                    "200": {
                        "description": "metrics",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "401": READ_ERRORS["401"],
                    "503": READ_ERRORS["503"],
                },
            }
        },
        "/communities": {
            "get": {
                "summary": "the communities with rows, and those this server serves (null: any)",
                "responses": {"200": _json({"type": "object"}, "communities"), **READ_ERRORS},
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "this document",
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")},
            }
        },
    }
    _add_community(paths, config)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Energy AI Agents: AI Manager server",
            "version": "1",
            "description": "Seed-compatible API of the AI Manager (see docs/api.md). Every "
            "refusal is a 4xx JSON {error, field, reason}.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas(config.max_batch),
            "securitySchemes": {
                "readToken": {"type": "http", "scheme": "bearer", "description": "--read-token"},
            },
        },
    }

"""The schema, as ordered migrations. Version N is reached by applying migrations 1..N in order;
each runs in the transaction that records its version, so a store is always at one version.

Statements are written once with three placeholders for the types the two databases spell
differently: ``{pk}`` (an auto-increasing integer key), ``{real}`` and ``{bigint}``.
Never edit a released migration: append a new one.
"""

from __future__ import annotations

TYPES = {
    "sqlite": {"pk": "INTEGER PRIMARY KEY", "real": "REAL", "bigint": "INTEGER"},
    "postgresql": {
        "pk": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "real": "DOUBLE PRECISION",
        "bigint": "BIGINT",
    },
}

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "messages, nonces, states, records, strategy states, decisions, stats",
        [
            """CREATE TABLE messages (
                id {pk},
                agent_name TEXT NOT NULL,
                message_id TEXT NOT NULL,
                message TEXT NOT NULL,
                timestamp TEXT NOT NULL,
                step {bigint},
                schema_version INTEGER,
                levers TEXT,
                confidence {real},
                expected_saving_ct {real},
                data TEXT,
                signed INTEGER NOT NULL,
                received_at {real} NOT NULL,
                body_hash TEXT NOT NULL,
                UNIQUE (agent_name, message_id)
            )""",
            "CREATE INDEX messages_step ON messages (step, agent_name, id)",
            "CREATE INDEX messages_agent ON messages (agent_name, id)",
            "CREATE INDEX messages_received ON messages (received_at)",
            """CREATE TABLE agent_latest (
                agent_name TEXT PRIMARY KEY,
                message_pk {bigint} NOT NULL,
                received_at {real} NOT NULL
            )""",
            "CREATE INDEX agent_latest_received ON agent_latest (received_at)",
            """CREATE TABLE nonces (
                address TEXT NOT NULL,
                nonce TEXT NOT NULL,
                ts {real} NOT NULL,
                PRIMARY KEY (address, nonce)
            )""",
            "CREATE INDEX nonces_ts ON nonces (ts)",
            """CREATE TABLE states (
                seq {pk},
                step {bigint} NOT NULL,
                observation TEXT NOT NULL,
                kpis TEXT,
                published_at {real} NOT NULL
            )""",
            "CREATE INDEX states_step ON states (step, seq)",
            """CREATE TABLE records (
                step {bigint} PRIMARY KEY,
                record TEXT NOT NULL,
                published_at {real} NOT NULL
            )""",
            """CREATE TABLE strategy_states (
                strategy TEXT NOT NULL,
                step {bigint} NOT NULL,
                state TEXT NOT NULL,
                PRIMARY KEY (strategy, step)
            )""",
            """CREATE TABLE decisions (
                id {pk},
                strategy TEXT NOT NULL,
                step_key {bigint} NOT NULL,
                decision TEXT NOT NULL,
                decided_at {real} NOT NULL,
                UNIQUE (strategy, step_key)
            )""",
            "CREATE TABLE stats (name TEXT PRIMARY KEY, value {bigint} NOT NULL)",
            "INSERT INTO stats (name, value) VALUES ('messages_stored', 0)",
        ],
    ),
]

LATEST_VERSION = MIGRATIONS[-1][0]


def statements(dialect: str, sql: list[str]) -> list[str]:
    return [s.format(**TYPES[dialect]) for s in sql]

"""The schema, as ordered migrations. Version N is reached by applying migrations 1..N in order;
each runs in the transaction that records its version, so a store is always at one version.

Statements are written once with three placeholders for the types the two databases spell
differently: ``{pk}`` (an auto-increasing integer key), ``{real}`` and ``{bigint}``. Where the
two databases need different statements (SQLite cannot change a table's keys in place: it
rebuilds the table), a migration gives one list per dialect.
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

MIGRATIONS: list[tuple[int, str, list[str] | dict[str, list[str]]]] = [
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

# Migration 2: a community on every row (several communities on one server). The keys that
# were unique per server become unique per community; rows stored before belong to "default".
_V1_MESSAGE_COLUMNS = (
    "id, agent_name, message_id, message, timestamp, step, schema_version, levers, "
    "confidence, expected_saving_ct, data, signed, received_at, body_hash"
)
_V2_INDEXES = [
    "CREATE INDEX messages_step ON messages (community, step, agent_name, id)",
    "CREATE INDEX messages_agent ON messages (community, agent_name, id)",
    "CREATE INDEX messages_community ON messages (community, id)",
    "CREATE INDEX messages_received ON messages (community, received_at, id)",
    "CREATE INDEX agent_latest_received ON agent_latest (community, received_at)",
    "CREATE INDEX states_step ON states (community, step, seq)",
    "CREATE INDEX states_latest ON states (community, seq)",
    "CREATE INDEX decisions_community ON decisions (community, id)",
    """CREATE TABLE communities (
        name TEXT PRIMARY KEY,
        created_at {real} NOT NULL
    )""",
]
_V2_FILL_COMMUNITIES = [  # the rows stored before belong to "default", if there are any
    "INSERT INTO communities (name, created_at) SELECT 'default', MIN(t) FROM "
    "(SELECT received_at AS t FROM messages UNION ALL SELECT published_at FROM states) AS old "
    "HAVING COUNT(*) > 0",
]
_V2_SQLITE = [
    "DROP INDEX messages_step",
    "DROP INDEX messages_agent",
    "DROP INDEX messages_received",
    "DROP INDEX agent_latest_received",
    "DROP INDEX states_step",
    """CREATE TABLE messages_v2 (
        id {pk},
        community TEXT NOT NULL DEFAULT 'default',
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
        UNIQUE (community, agent_name, message_id)
    )""",
    f"INSERT INTO messages_v2 ({_V1_MESSAGE_COLUMNS}) SELECT {_V1_MESSAGE_COLUMNS} FROM messages",
    "DROP TABLE messages",
    "ALTER TABLE messages_v2 RENAME TO messages",
    """CREATE TABLE agent_latest_v2 (
        community TEXT NOT NULL DEFAULT 'default',
        agent_name TEXT NOT NULL,
        message_pk {bigint} NOT NULL,
        received_at {real} NOT NULL,
        PRIMARY KEY (community, agent_name)
    )""",
    "INSERT INTO agent_latest_v2 (agent_name, message_pk, received_at) "
    "SELECT agent_name, message_pk, received_at FROM agent_latest",
    "DROP TABLE agent_latest",
    "ALTER TABLE agent_latest_v2 RENAME TO agent_latest",
    "ALTER TABLE states ADD COLUMN community TEXT NOT NULL DEFAULT 'default'",
    """CREATE TABLE records_v2 (
        community TEXT NOT NULL DEFAULT 'default',
        step {bigint} NOT NULL,
        record TEXT NOT NULL,
        published_at {real} NOT NULL,
        PRIMARY KEY (community, step)
    )""",
    "INSERT INTO records_v2 (step, record, published_at) SELECT step, record, published_at "
    "FROM records",
    "DROP TABLE records",
    "ALTER TABLE records_v2 RENAME TO records",
    """CREATE TABLE strategy_states_v2 (
        community TEXT NOT NULL DEFAULT 'default',
        strategy TEXT NOT NULL,
        step {bigint} NOT NULL,
        state TEXT NOT NULL,
        PRIMARY KEY (community, strategy, step)
    )""",
    "INSERT INTO strategy_states_v2 (strategy, step, state) SELECT strategy, step, state "
    "FROM strategy_states",
    "DROP TABLE strategy_states",
    "ALTER TABLE strategy_states_v2 RENAME TO strategy_states",
    """CREATE TABLE decisions_v2 (
        id {pk},
        community TEXT NOT NULL DEFAULT 'default',
        strategy TEXT NOT NULL,
        step_key {bigint} NOT NULL,
        decision TEXT NOT NULL,
        decided_at {real} NOT NULL,
        UNIQUE (community, strategy, step_key)
    )""",
    "INSERT INTO decisions_v2 (id, strategy, step_key, decision, decided_at) "
    "SELECT id, strategy, step_key, decision, decided_at FROM decisions",
    "DROP TABLE decisions",
    "ALTER TABLE decisions_v2 RENAME TO decisions",
    *_V2_INDEXES,
    *_V2_FILL_COMMUNITIES,
]
_V2_POSTGRES = [
    *(
        f"ALTER TABLE {t} ADD COLUMN community TEXT NOT NULL DEFAULT 'default'"
        for t in ("messages", "agent_latest", "states", "records", "strategy_states", "decisions")
    ),
    "ALTER TABLE messages DROP CONSTRAINT messages_agent_name_message_id_key",
    "ALTER TABLE messages ADD UNIQUE (community, agent_name, message_id)",
    "ALTER TABLE agent_latest DROP CONSTRAINT agent_latest_pkey",
    "ALTER TABLE agent_latest ADD PRIMARY KEY (community, agent_name)",
    "ALTER TABLE records DROP CONSTRAINT records_pkey",
    "ALTER TABLE records ADD PRIMARY KEY (community, step)",
    "ALTER TABLE strategy_states DROP CONSTRAINT strategy_states_pkey",
    "ALTER TABLE strategy_states ADD PRIMARY KEY (community, strategy, step)",
    "ALTER TABLE decisions DROP CONSTRAINT decisions_strategy_step_key_key",
    "ALTER TABLE decisions ADD UNIQUE (community, strategy, step_key)",
    "DROP INDEX messages_step",
    "DROP INDEX messages_agent",
    "DROP INDEX messages_received",
    "DROP INDEX agent_latest_received",
    "DROP INDEX states_step",
    *_V2_INDEXES,
    *_V2_FILL_COMMUNITIES,
]
MIGRATIONS.append(
    (
        2,
        "a community on every row; keys unique per community; the communities table",
        {"sqlite": _V2_SQLITE, "postgresql": _V2_POSTGRES},
    )
)

LATEST_VERSION = MIGRATIONS[-1][0]


def statements(dialect: str, sql: list[str] | dict[str, list[str]]) -> list[str]:
    if isinstance(sql, dict):
        sql = sql[dialect]
    return [s.format(**TYPES[dialect]) for s in sql]

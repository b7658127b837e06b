"""Agent identities: one seed per agent, from configuration or a key file made on first run.

A seed is never a constant in the code. Order of precedence for agent ``name``:

1. the environment variable ``ENERGY_AGENTS_SEED_<NAME>`` (upper case), e.g.
   ``ENERGY_AGENTS_SEED_GRID_TRADER``;
2. the key file ``<data_dir>/keys/<name>.seed``;
3. a new random seed (256 bits from :mod:`secrets`) written to that key file, mode 0600.

The agent address (``agent1...``) is derived from the seed exactly as uagents derives it
(``Identity.from_seed(seed, 0)``), so the launcher can write the allowed-agents file before
any agent runs.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

ENV_PREFIX = "ENERGY_AGENTS_SEED_"
AGENTS_FILE = "agents.json"


def key_path(data_dir: Path, name: str) -> Path:
    return Path(data_dir) / "keys" / f"{name}.seed"


def load_or_create_seed(data_dir: Path, name: str) -> str:
    """The seed of agent ``name`` (see the module docstring for where it comes from)."""
    configured = os.environ.get(ENV_PREFIX + name.upper())
    if configured:
        return configured
    path = key_path(data_dir, name)
    if path.exists():
        seed = path.read_text(encoding="utf-8").strip()
        if not seed:
            raise ValueError(f"{path}: empty key file (delete it to generate a new identity)")
        return seed
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    seed = secrets.token_hex(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(seed + "\n")
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # atomic and refuses to overwrite a seed made concurrently
    except FileExistsError:
        seed = path.read_text(encoding="utf-8").strip()
    finally:
        tmp.unlink(missing_ok=True)
    return seed


def identity_from_seed(seed: str):
    """The uagents identity of a seed (``uagents_core.identity.Identity``)."""
    from uagents_core.identity import Identity

    return Identity.from_seed(seed, 0)


def load_identity(data_dir: Path, name: str):
    return identity_from_seed(load_or_create_seed(data_dir, name))


def addresses(data_dir: Path, names: Iterable[str]) -> dict[str, str]:
    """``{name: agent address}`` for ``names``, creating key files as needed."""
    return {name: load_identity(data_dir, name).address for name in names}


def write_agents_file(path: Path, mapping: Mapping[str, str]) -> Path:
    """Write the allowed-agents JSON (``{agent_name: address}``) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(dict(mapping), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def register(data_dir: Path, names: Iterable[str]) -> dict[str, str]:
    """Make sure ``names`` have keys and are listed in ``<data_dir>/agents.json`` (merged with
    what is there, under a lock: the launcher and the runner may both register)."""
    import fcntl

    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    mine = addresses(data_dir, names)
    path = data_dir / AGENTS_FILE
    with (data_dir / (AGENTS_FILE + ".lock")).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current = read_agents_file(path)
        except (FileNotFoundError, ValueError):
            current = {}
        if any(current.get(n) != a for n, a in mine.items()):
            write_agents_file(path, {**current, **mine})
    return mine


def read_agents_file(path: Path) -> dict[str, str]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"{path}: must be a JSON object of agent_name -> address")
    return data

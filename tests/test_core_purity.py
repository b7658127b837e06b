"""The pure core imports no web framework, agent runtime, database or HTTP client."""

from __future__ import annotations

import subprocess
import sys

BLOCKED = (
    "flask",
    "werkzeug",
    "uagents",
    "uagents_core",
    "sqlite3",
    "psycopg",
    "requests",
    "httpx",
    "aiohttp",
    "urllib3",
    "http.client",
    "gunicorn",
    "granian",
    "socket",
)
CORE = (
    "energy_agents.sim",
    "energy_agents.advisors",
    "energy_agents.coordination",
    "energy_agents.optimize",
    "energy_agents.engine",
)

PROGRAM = f"""
import importlib, importlib.abc, sys
BLOCKED = {BLOCKED!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError("core imported " + name)
sys.meta_path.insert(0, Block())
for b in BLOCKED:
    sys.modules.pop(b, None)
import pkgutil
for root in {CORE!r}:
    mod = importlib.import_module(root)
    for info in pkgutil.walk_packages(getattr(mod, "__path__", []), root + "."):
        importlib.import_module(info.name)
print("ok")
"""


def test_core_modules_import_no_io_libraries():
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"

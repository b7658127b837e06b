"""``pip install ./sdk`` into a clean venv: the client SDK alone, usable against a real server.

The venv has none of the project's heavy dependencies (numpy, Flask, uagents, the simulator);
the script run in it publishes a state, posts a recommendation signed with an
``IdentityKey`` (no uagents there) and requests the decision from a server of this checkout.
pip resolves ``requests`` and the build backend from the configured package registry (its
cache makes a second run fast).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from energy_agents.client import AGENT_NAMES, IdentityKey
from server_fixtures import ServerProcess, observation_dict

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys
import importlib.util as util
import energy_agents.client as sdk
from energy_agents.client import IdentityKey, InvalidRequest, ServerClient, observation_digest
from energy_agents.client.ids import message_id

url, obs_path = sys.argv[1], sys.argv[2]
obs = json.load(open(obs_path))
runner = ServerClient([url], identity=IdentityKey.from_seed("sdk install runner"), retry_s=5)
ack = runner.publish_state(obs)
digest = observation_digest(runner.latest_state().observation)
agent = ServerClient(url, identity=IdentityKey.from_seed("sdk install grid_trader"))
rec = {"schema_version": 1, "agent_name": "grid_trader", "step": ack.step,
       "message": "buy less at the peak", "levers": {"procurement_kwh": 1.0},
       "confidence": 0.5, "expected_saving_ct": 0.0, "data": {},
       "message_id": message_id("grid_trader", ack.step, digest)}
receipt = agent.post_recommendation(rec)
try:
    agent.post_recommendation(dict(rec, message_id="other", confidence=2))
    refusal = None
except InvalidRequest as exc:
    refusal = [exc.status, exc.field]
decision = runner.request_decision(ack.step, "seed")
print(json.dumps({
    "sdk_file": sdk.__file__,
    "heavy": [m for m in ("numpy", "flask", "uagents", "uagents_core", "pandas")
              if util.find_spec(m) is not None],
    "ours": [m for m in ("energy_agents.sim", "energy_agents.server", "energy_agents.agents")
             if util.find_spec(m) is not None],
    "step": ack.step, "signed": ack.signed, "receipt": [receipt.step, receipt.signed],
    "refusal": refusal, "decision_step": decision.step,
    "followed_or_overridden": sorted(decision.followed + decision.overridden),
    "parameters": sorted(decision.parameters),
}))
"""


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.mark.timeout(600)
def test_sdk_installs_alone_and_talks_to_a_real_server(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    env = _clean_env()
    install = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", str(ROOT / "sdk")],
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    frozen = subprocess.run(
        [str(py), "-m", "pip", "freeze"], env=env, capture_output=True, text=True, check=True
    ).stdout.lower()
    names = {line.split("==")[0].split(" @ ")[0] for line in frozen.splitlines()}
    assert "energy-agents-client" in names and "requests" in names
    assert not names & {"numpy", "flask", "uagents", "uagents-core", "pandas", "energy-agents"}

    names_map = {n: IdentityKey.from_seed(f"sdk install {n}").address for n in AGENT_NAMES}
    names_map["runner"] = IdentityKey.from_seed("sdk install runner").address
    (tmp_path / "agents.json").write_text(json.dumps(names_map))
    (tmp_path / "obs.json").write_text(json.dumps(observation_dict(0)))
    (tmp_path / "script.py").write_text(SCRIPT)
    server = ServerProcess(
        tmp_path,
        str(tmp_path / "server.sqlite"),
        "--agents-file",
        str(tmp_path / "agents.json"),
        workers=1,
        threads=2,
    ).start()
    try:
        run = subprocess.run(
            [str(py), "-I", str(tmp_path / "script.py"), server.url, str(tmp_path / "obs.json")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.stop()
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout)
    assert out["sdk_file"].startswith(str(venv))  # the installed copy, not this checkout's
    assert out["heavy"] == [] and out["ours"] == []
    assert (out["step"], out["signed"], out["receipt"]) == (0, True, [0, True])
    assert out["refusal"] == [400, "confidence"]
    assert out["decision_step"] == 0 and "grid_trader" in out["followed_or_overridden"]
    assert "burn_rate_ct_per_kwh" in out["parameters"]

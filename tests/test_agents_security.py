"""The agents' own uagents servers accept forecasts only from the demand forecaster."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from energy_agents.agents.identity import load_identity, read_agents_file
from ports import free_port_block

pytestmark = pytest.mark.e2e


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} not listening")


def envelope(signer, target: str, msg, claimed_sender: str | None = None) -> str:
    from uagents_core.envelope import Envelope
    from uagents_core.models import Model

    env = Envelope(
        version=1,
        sender=claimed_sender or signer.address,
        target=target,
        session=uuid.uuid4(),
        schema_digest=Model.build_schema_digest(msg),
        expires=int(time.time()) + 60,
    )
    env.encode_payload(msg.model_dump_json())
    env.sign(signer)
    return env.model_dump_json()


def test_submit_refuses_forecasts_from_unknown_or_wrong_senders(tmp_path: Path):
    from uagents_core.identity import Identity

    from energy_agents.agents.messages import ForecastMessage

    base = free_port_block(5)
    log = (tmp_path / "agents.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "energy_agents.cli",
            "agents",
            "--only",
            "storage_optimizer",
            "--server",
            "http://127.0.0.1:9",  # no server needed: the agent only receives here
            "--data-dir",
            str(tmp_path),
            "--base-port",
            str(base),
            "--log-level",
            "DEBUG",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        port = base + 1  # storage_optimizer is the second agent
        wait_port(port)
        addresses = read_agents_file(tmp_path / "agents.json")
        target = addresses["storage_optimizer"]
        url = f"http://127.0.0.1:{port}/submit"
        rogue = Identity.from_seed(f"rogue {uuid.uuid4()}", 0)
        cases = {
            101: envelope(rogue, target, _msg(ForecastMessage, 101)),  # unknown agent
            102: envelope(  # a known agent, but not the forecaster
                load_identity(tmp_path, "grid_trader"), target, _msg(ForecastMessage, 102)
            ),
            103: envelope(  # forged: claims to be the forecaster, signed by someone else
                rogue, target, _msg(ForecastMessage, 103), addresses["demand_forecaster"]
            ),
            104: envelope(  # the forecaster itself
                load_identity(tmp_path, "demand_forecaster"), target, _msg(ForecastMessage, 104)
            ),
        }
        status = {}
        for step, body in cases.items():
            r = requests.post(url, data=body, headers={"content-type": "application/json"})
            status[step] = r.status_code
        assert status[103] >= 400  # bad signature: refused by uagents before any handler
        text = ""
        for _ in range(50):
            text = (tmp_path / "agents.log").read_text()
            if "step 104 accepted" in text and text.count("refused a forecast from") >= 2:
                break
            time.sleep(0.1)
        assert f"refused a forecast from {rogue.address} (unknown sender)" in text
        assert f"refused a forecast from {addresses['grid_trader']} (grid_trader)" in text
        assert "forecast for step 104 accepted" in text
        for step in (101, 102, 103):
            assert f"forecast for step {step} accepted" not in text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
        log.close()


def _msg(cls, step: int):
    return cls(step=step, obs_digest="0" * 64, forecast_json='{"load_kwh": [1.0]}')

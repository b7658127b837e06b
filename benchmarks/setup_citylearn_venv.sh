#!/usr/bin/env bash
# CityLearn 3.0.2 in its own venv, without torch: citylearn --no-deps plus the packages it needs to
# import CityLearnEnv and step the 2022 schemas (measured: its metadata also names torch,
# torchvision, openstudio and doe_xstock, which only its LSTM dynamics buildings, EnergyPlus
# and ResStock tools import). nrel-pysam (PVWatts) is CityLearn's PV autosizing: the ResStock
# neighbourhoods autosize every home, so `citylearn-run` on them needs it.
# Then the client SDK of this repository, so that our driver can talk to the AI Manager.
# Idempotent: a stamp holding the requirements' digest makes a second run a no-op.
# Used by benchmarks/citylearn_reference.py, citylearn_compare.py, citylearn_run_compare.py,
# `energy-agents citylearn-run` and tests/test_citylearn_run.py (`make test` runs it).
# Usage: benchmarks/setup_citylearn_venv.sh [VENV_DIR]
#        (default: $CITYLEARN_VENV, else benchmarks/.venv-citylearn, gitignored)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-${CITYLEARN_VENV:-$repo/benchmarks/.venv-citylearn}}"
python="${PYTHON:-python3}"

reqs=(
  "citylearn==3.0.2"
  "numpy<2"
  "gymnasium==0.28.1"
  "scikit-learn<=1.2.2"
  "pandas"
  "pyyaml"
  "simplejson"
  "platformdirs"
  "requests"
  "nrel-pysam==7.1.1.post1"
)
# The SDK's source is part of the digest: a changed client reinstalls it.
sdk_digest=$( { cat "$repo"/src/energy_agents/client/*.py "$repo"/sdk/pyproject.toml 2>/dev/null || true; } | sha256sum | cut -c1-16)
want="$(printf '%s\n' "${reqs[@]}" | sha256sum | cut -c1-16)-$sdk_digest"
stamp="$venv/.citylearn-installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --quiet)
"${pip[@]}" install --no-deps "${reqs[0]}"
"${pip[@]}" install "${reqs[@]:1}"

if [ -f "$repo/sdk/pyproject.toml" ]; then
  # The SDK as its own distribution, once it exists (and no copy of an earlier run beside it).
  rm -rf "$venv/energy-agents-sdk" "$venv"/lib/python*/site-packages/energy-agents-sdk.pth
  "${pip[@]}" install "$repo/sdk"
else
  # Until then: a copy of the client package (standard library + requests only) under an
  # energy_agents package of its own, on the venv's path (a .pth file). The driver finds the
  # mapping beside itself (it is run by file path).
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  copy="$venv/energy-agents-sdk"
  rm -rf "$copy" && mkdir -p "$copy/energy_agents"
  cp -r "$repo/src/energy_agents/client" "$copy/energy_agents/client"
  printf '"""The client SDK copied from %s for the CityLearn venv."""\n' "$repo" > "$copy/energy_agents/__init__.py"
  echo "$copy" > "$site/energy-agents-sdk.pth"
fi

# Proof that it imports and that torch did not sneak in.
"$venv/bin/python" - <<'PY'
import sys
from citylearn.citylearn import CityLearnEnv  # noqa: F401
from citylearn.agents.rbc import BasicBatteryRBC, BasicRBC  # noqa: F401
from citylearn.agents.baseline import BusinessAsUsualAgent  # noqa: F401
import energy_agents.client.http  # noqa: F401
import PySAM.Pvwattsv8  # noqa: F401
assert "torch" not in sys.modules, "torch was imported"
PY
echo "$want" > "$stamp"
echo "CityLearn venv ready: $venv"

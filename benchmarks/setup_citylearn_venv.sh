#!/usr/bin/env bash
# Throwaway venv with CityLearn 3.0.2 for benchmarks/citylearn_reference.py (not a project
# dependency). Idempotent: re-running only checks that the pinned set imports.
#
#   bash benchmarks/setup_citylearn_venv.sh        # creates benchmarks/.venv-citylearn
#
# CityLearn 3.0.2 pins old versions of heavy packages (torch, stable-baselines3, ...) that the
# simulator itself does not need, so it is installed with --no-deps and only the packages it
# imports at run time are added (found by trying: `import citylearn.citylearn`, a full-year run,
# env.evaluate()).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${CITYLEARN_VENV:-$HERE/.venv-citylearn}"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip

RUNTIME_DEPS=(
    "gymnasium==0.28.1"
    "numpy<2"
    "pandas"
    "pyyaml"
    "scikit-learn<=1.2.2"
    "simplejson"
    "platformdirs"
    "requests"
)
"$VENV/bin/python" -m pip install --quiet "${RUNTIME_DEPS[@]}"
"$VENV/bin/python" -m pip install --quiet --no-deps "citylearn==3.0.2"

# Smoke test: the modules the reference run needs import without the skipped dependencies.
"$VENV/bin/python" - <<'PY'
import citylearn
from citylearn.citylearn import CityLearnEnv  # noqa: F401
from citylearn.agents.rbc import BasicRBC  # noqa: F401
print("citylearn", getattr(citylearn, "__version__", "?"), "ok")
PY
echo "venv ready: $VENV"

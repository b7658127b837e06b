"""Arguments and steps shared by the batch commands (simulate, compare)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..runner.timed import timed_run
from ..sim.params import Scenario

__all__ = ["add_scenario_arguments", "load", "tariff_overrides", "timed_run"]


def add_scenario_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario",
        default="synthetic",
        help="synthetic (default, embedded), citylearn:PATH or csv:PATH",
    )
    parser.add_argument(
        "--days",
        type=positive_int,
        default=None,
        help="simulate only the first N days (default: all of the scenario)",
    )
    parser.add_argument(
        "--members", type=positive_int, default=None, help="members (synthetic: default 20)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic community")
    parser.add_argument(
        "--community-storage",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="add/remove community storages (CityLearn default: none)",
    )
    parser.add_argument(
        "--flexible-share",
        type=float,
        default=None,
        help="share of load that can shift within the day (default: the scenario's)",
    )
    parser.add_argument(
        "--ev-share",
        type=float,
        default=None,
        help="synthetic: share of homes with an EV and a home charger (default 0)",
    )
    parser.add_argument(
        "--heat-pump-share",
        type=float,
        default=None,
        help="synthetic: share of homes heated by a heat pump (space heat, hot water; default 0)",
    )
    parser.add_argument(
        "--objective",
        default=None,
        help="what the run minimizes and is judged on: a preset (cost, carbon, citylearn2022) "
        "or PRESET,weight=value,... (docs/model.md; default: the scenario's, cost)",
    )
    parser.add_argument(
        "--demand-charge",
        type=float,
        default=None,
        metavar="CT_PER_KW",
        help="tariff: CT per kW of each period's highest import (synthetic: 10; CityLearn: 0)",
    )
    parser.add_argument(
        "--demand-charge-period",
        choices=("month", "day"),
        default=None,
        help="tariff: the demand charge's period (default month)",
    )
    parser.add_argument(
        "--import-limit",
        type=float,
        default=None,
        metavar="KW",
        help="tariff: connection limit for import (default: none)",
    )
    parser.add_argument(
        "--export-limit",
        type=float,
        default=None,
        metavar="KW",
        help="tariff: connection limit for export (default: none)",
    )
    parser.add_argument(
        "--overrun-price",
        type=float,
        default=None,
        metavar="CT_PER_KWH",
        help="tariff: price on each kWh imported above the limit (default: 0, served and counted)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: out/COMMAND-STRATEGY)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--png",
        action="store_true",
        help="also write static PNG plots (matplotlib, about 1.5 s); the report's charts need none",
    )


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def load(args: argparse.Namespace) -> Scenario:
    from ..scenarios import load_scenario

    return load_scenario(
        args.scenario,
        members=args.members,
        days=args.days,
        seed=args.seed,
        community_storage=args.community_storage,
        flexible_share=args.flexible_share,
        tariff=tariff_overrides(args),
        objective=args.objective,
        ev_share=args.ev_share,
        heat_pump_share=args.heat_pump_share,
    )


def tariff_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The tariff components given on the command line (the scenario's for the others)."""
    given = {
        "demand_charge_ct_per_kw": args.demand_charge,
        "demand_charge_period": args.demand_charge_period,
        "import_limit_kw": args.import_limit,
        "export_limit_kw": args.export_limit,
        "overrun_ct_per_kwh": args.overrun_price,
    }
    return {k: v for k, v in given.items() if v is not None}

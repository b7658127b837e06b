"""Run one subcommand without the whole CLI: ``python -m energy_agents.agents`` and
``python -m energy_agents.runner`` start faster than ``energy-agents agents``/``run-sim``
because they import only what their command needs (``energy-agents up`` uses them), and
``python -m energy_agents.agents.cli_entry COMMAND ARGS...`` does the same for any command
(``up`` starts ``serve`` this way: the full CLI imports pandas for the batch commands)."""

from __future__ import annotations

import argparse
import sys
from types import ModuleType


def main(command: str, module: ModuleType, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"energy-agents {command}")
    module.add_arguments(parser)
    args = parser.parse_args(argv)
    args.command = command
    from ..cli import CliError

    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (CliError, ValueError, KeyError, FileNotFoundError, OSError, RuntimeError) as exc:
        print(f"energy-agents {command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    import importlib

    from ..cli import COMMANDS

    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: python -m energy_agents.agents.cli_entry {{{','.join(COMMANDS)}}} ...")
        sys.exit(2)
    name = sys.argv[1]
    module = importlib.import_module(f"energy_agents.commands.{COMMANDS[name][0]}")
    sys.exit(main(name, module, sys.argv[2:]))

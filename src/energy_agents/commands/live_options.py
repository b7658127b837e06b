"""The options every live command shares (``agents``, ``run-sim``, ``up``): where the AI
Manager is and where a process keeps its keys, outboxes and checkpoint. Defined once here, so
the commands cannot drift apart in names, defaults or checks. ``--community`` names which of
the server's communities the process belongs to."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_SERVER = "http://127.0.0.1:9000"
DEFAULT_DATA_DIR = ".energy-agents"


def server_list(text: str) -> str:
    """``--server``: one URL, or several comma-separated (the client fails over along them,
    docs/client.md), checked here; kept as text, the way children get it on their command
    line."""
    from ..client.http import server_urls

    try:
        return ",".join(server_urls(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("base_url: ")) from None


def add_server_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        type=server_list,
        default=DEFAULT_SERVER,
        metavar="URL[,URL...]",
        help=f"AI Manager URL, or several comma-separated, tried in order: a connection error "
        f"or a 5xx moves on to the next (default {DEFAULT_SERVER})",
    )


def community_name(text: str) -> str:
    from ..client.ids import check_community_name

    try:
        return check_community_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("community: ")) from None


def add_community_argument(parser: argparse.ArgumentParser) -> None:
    from ..client.ids import DEFAULT_COMMUNITY

    parser.add_argument(
        "--community",
        type=community_name,
        default=DEFAULT_COMMUNITY,
        metavar="NAME",
        help=f"the community on the server (default {DEFAULT_COMMUNITY!r}); its outboxes, "
        "checkpoint and agent homes go to <data-dir>/communities/NAME",
    )


def add_data_dir_argument(parser: argparse.ArgumentParser, holds: str) -> None:
    """``--data-dir``; ``holds`` says what this command keeps in it."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(DEFAULT_DATA_DIR),
        help=f"{holds} (default {DEFAULT_DATA_DIR})",
    )

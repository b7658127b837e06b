"""``energy-agents store-copy``: copy a server's store to another database (SQLite ->
PostgreSQL, or between any two store URLs), ids kept, row counts verified (docs/deploy.md)."""

from __future__ import annotations

import argparse
import sys

from . import CliError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="URL",
        help="the store to copy: sqlite:///PATH or postgresql://... (read in one snapshot; "
        "a running server may keep writing)",
    )
    parser.add_argument(
        "--to",
        dest="target",
        required=True,
        metavar="URL",
        help="the empty store to fill (migrated first): postgresql://... or sqlite:///PATH",
    )
    parser.add_argument("--batch", type=int, default=1000, help="rows read and written per batch")


def run(args: argparse.Namespace) -> int:
    from ..server.store import StoreError
    from ..server.store.copy import copy_store

    if args.batch < 1:
        raise CliError("--batch: must be >= 1")
    try:
        counts = copy_store(args.source, args.target, batch=args.batch)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    width = max((len(t) for t in counts), default=5)
    for table, n in counts.items():
        print(f"{table:<{width}}  {n:>10} rows", file=sys.stdout)
    print(f"copied {sum(counts.values())} rows in {len(counts)} tables; counts verified")
    return 0

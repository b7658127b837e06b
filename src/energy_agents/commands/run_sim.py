"""Placeholder until its issue lands: refuses clearly instead of pretending."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from ..cli import CliError

    raise CliError("not implemented yet")

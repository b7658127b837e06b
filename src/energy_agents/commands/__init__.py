"""The CLI's subcommands: each module has ``add_arguments(parser)`` and ``run(args) -> int``."""


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 1, no traceback."""

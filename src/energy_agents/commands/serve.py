"""``energy-agents serve``: the AI Manager server under gunicorn (never Flask's dev server).

gunicorn runs in this process (its arbiter), with ``--workers`` worker processes of the
``gthread`` class (``--threads`` threads each); every worker builds the app with
``create_app``. The store is migrated once here before the workers start. Binds 127.0.0.1
unless ``--host`` says otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

DEFAULT_WORKERS = 2
DEFAULT_THREADS = 16


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..server.config import (
        DEFAULT_AGGREGATE_WINDOW_S,
        DEFAULT_DATABASE,
        DEFAULT_MAX_BATCH,
        DEFAULT_MAX_CONTENT_LENGTH,
        DEFAULT_SIGNATURE_WINDOW_S,
    )

    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9000, help="port (default 9000)")
    parser.add_argument(
        "--database",
        default=None,
        help=f"SQLite file or postgresql:// URL (default $DATABASE_URL, else {DEFAULT_DATABASE})",
    )
    parser.add_argument(
        "--agents-file",
        default=None,
        help="JSON {agent_name: address} of the agents allowed to post ('runner' signs /state); "
        "re-read when it changes (default $ENERGY_AGENTS_AGENTS_FILE)",
    )
    parser.add_argument(
        "--allow-unsigned",
        action="store_true",
        default=None,
        help='accept unsigned posts (the seed\'s plain JSON); answers say "signed": false',
    )
    parser.add_argument(
        "--strategy",
        default=None,
        help="default strategy of /aggregate (default: weighted, else seed, else none)",
    )
    parser.add_argument(
        "--read-token",
        default=None,
        help="require 'Authorization: Bearer TOKEN' on reads (default $ENERGY_AGENTS_READ_TOKEN)",
    )
    parser.add_argument(
        "--runner-token",
        default=None,
        help="accept POST /state with this bearer token instead of the runner's signature "
        "(default $ENERGY_AGENTS_RUNNER_TOKEN)",
    )
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="worker processes")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="threads per worker")
    parser.add_argument(
        "--signature-window",
        type=float,
        default=DEFAULT_SIGNATURE_WINDOW_S,
        help="seconds a signed request's timestamp may differ from the server clock",
    )
    parser.add_argument(
        "--aggregate-window",
        type=float,
        default=DEFAULT_AGGREGATE_WINDOW_S,
        help="seconds of the recent window of /aggregate before any state is published",
    )
    parser.add_argument(
        "--max-batch", type=int, default=DEFAULT_MAX_BATCH, help="messages per post"
    )
    parser.add_argument(
        "--max-body", type=int, default=DEFAULT_MAX_CONTENT_LENGTH, help="bytes per request body"
    )
    parser.add_argument(
        "--sqlite-sync",
        choices=("full", "normal"),
        default=None,
        help="SQLite: full (default) fsyncs each commit before answering; normal survives a "
        "killed server, not necessarily a power cut",
    )
    parser.add_argument("--log-level", default="info", help="gunicorn log level (default info)")


def build_config(args: argparse.Namespace):
    from ..server.config import ServerConfig

    return ServerConfig.from_env(
        database=args.database,
        agents_file=args.agents_file,
        allow_unsigned=args.allow_unsigned,
        strategy=args.strategy,
        read_token=args.read_token,
        runner_token=args.runner_token,
        signature_window_s=args.signature_window,
        aggregate_window_s=args.aggregate_window,
        max_batch=args.max_batch,
        max_content_length=args.max_body,
        sqlite_synchronous=args.sqlite_sync,
    )


def run(args: argparse.Namespace) -> int:
    from ..cli import CliError

    if args.workers < 1 or args.threads < 1:
        raise CliError("workers and threads: must be >= 1")
    config = build_config(args)
    metrics_dir = tempfile.mkdtemp(prefix="energy-agents-metrics-")
    # Before anything imports prometheus_client: the workers' metrics go to per-process files.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        from dataclasses import replace

        from ..server.store import Store, StoreError

        config = replace(config, metrics_dir=metrics_dir)
        store = Store(config.database)
        try:
            version = store.migrate()
        except StoreError as exc:
            raise CliError(str(exc)) from None
        finally:
            store.close()
        _say(
            f"AI Manager server on http://{args.host}:{args.port} "
            f"({args.workers} workers x {args.threads} threads); store {store._safe_url()} "
            f"(schema {version}); posts: "
            + ("signed or unsigned" if config.allow_unsigned else "signed only")
            + (f"; allowed agents from {config.agents_file}" if config.agents_file else "")
            + ("; reads need a bearer token" if config.read_token else "")
        )
        if args.host not in ("127.0.0.1", "localhost", "::1") and not config.read_token:
            _say(f"warning: listening on {args.host} and reads need no token (see --read-token)")
        options = {
            "bind": f"[{args.host}]:{args.port}"
            if ":" in args.host
            else f"{args.host}:{args.port}",
            "workers": args.workers,
            "worker_class": "gthread",
            "threads": args.threads,
            "keepalive": 5,
            "timeout": 60,
            "graceful_timeout": 10,
            "loglevel": args.log_level,
            "accesslog": None,
            "errorlog": "-",
            "preload_app": False,
            "child_exit": _child_exit,
            "proc_name": "energy-agents-serve",
            "control_socket_disable": True,  # one shared ~/.gunicorn/gunicorn.ctl otherwise
        }
        GunicornServer(options, config).run()
        return 0
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _child_exit(server, worker) -> None:  # gunicorn hook: a worker exited
    try:
        from prometheus_client import multiprocess
    except ImportError:
        return
    multiprocess.mark_process_dead(worker.pid)


def _say(text: str) -> None:
    print(f"energy-agents serve: {text}", file=sys.stderr, flush=True)


def GunicornServer(options: dict, config):  # noqa: N802 - builds a gunicorn application
    """gunicorn's arbiter, configured here, loading ``create_app(config)`` in each worker."""
    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            from ..server import create_app

            return create_app(config)

    return _Server()

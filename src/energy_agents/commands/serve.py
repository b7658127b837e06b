"""``energy-agents serve``: the AI Manager server under granian (never Flask's dev server).

granian's process manager runs in this process, with ``--workers`` worker processes;
granian's HTTP handling is Rust, outside the GIL. Every worker builds the app with
``create_app``. By default (``--interface rsgi``) a worker serves ``POST /receive`` on its
event loop with one writer thread (``server/serve/rsgi.py``) and runs the Flask app for
everything else on ``--threads`` threads; ``--interface wsgi`` serves the plain WSGI app on
``--threads`` threads. The store is migrated once here before the workers start. Binds
127.0.0.1 unless ``--host`` says otherwise. Why granian and not gunicorn: docs/server.md.

Processes and connections (docs/server.md): each worker gets SIGKILL when this process dies
(``PR_SET_PDEATHSIG``; the store commits before it answers, so nothing acknowledged is lost);
a taken port is refused (exit 1); a client has ``--header-timeout`` seconds for its headers
and ``--body-timeout`` for its body, and up to ``CONNECTIONS_PER_WORKER`` connections are
served per worker, so a thousand slow clients lock nobody out.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys

DEFAULT_WORKERS = 2
# Python threads per worker. rsgi: they run the Flask app (reads, /state, the dashboard), not
# /receive. wsgi: they run every request, and most of them wait for their group's commit (a
# larger group costs less per request; 64 connections on 2 workers: one thread for each).
DEFAULT_THREADS = {"rsgi": 8, "wsgi": 32}
# granian's `backpressure`: connections a worker serves at once, keep-alive and unfinished
# ones included (its default, backlog/workers = 512, let ~1,100 slow clients lock out all
# others). Bounded by the open-files limit, raised at start.
CONNECTIONS_PER_WORKER = 8192
DEFAULT_HEADER_TIMEOUT_S = 5.0
DEFAULT_BODY_TIMEOUT_S = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..server.core.config import (
        DEFAULT_AGGREGATE_WINDOW_S,
        DEFAULT_DATABASE,
        DEFAULT_MAX_BATCH,
        DEFAULT_MAX_CONTENT_LENGTH,
        DEFAULT_SIGNATURE_WINDOW_S,
    )
    from .live_options import community_name

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
        "--allow-unsigned-runner",
        action="store_true",
        default=None,
        help="also accept unsigned POST /state and POST /decisions, the runner's endpoints "
        "(without it they need the runner's signature or --runner-token)",
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
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads per worker that run the Flask app (default: 8 with rsgi, 32 with wsgi)",
    )
    parser.add_argument(
        "--interface",
        choices=("rsgi", "wsgi"),
        default="rsgi",
        help="rsgi (default): POST /receive on each worker's event loop, the rest on threads; "
        "wsgi: every request on threads",
    )
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
        "--community",
        dest="communities",
        action="append",
        type=community_name,
        default=None,
        metavar="NAME",
        help="serve only this community (?community=NAME; repeat for several; default: any "
        "valid name, requests without one are of 'default')",
    )
    parser.add_argument(
        "--max-body", type=int, default=DEFAULT_MAX_CONTENT_LENGTH, help="bytes per request body"
    )
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=DEFAULT_HEADER_TIMEOUT_S,
        help=f"seconds a client has to send its request headers (default {DEFAULT_HEADER_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=DEFAULT_BODY_TIMEOUT_S,
        help="seconds a client has to send its request body, else 408 "
        f"(default {DEFAULT_BODY_TIMEOUT_S:g}; rsgi only)",
    )
    parser.add_argument(
        "--sqlite-sync",
        choices=("full", "normal"),
        default=None,
        help="SQLite: full (default) fsyncs each commit before answering; normal survives a "
        "killed server, not necessarily a power cut",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error", "critical"),
        help="log level (default info)",
    )


def build_config(args: argparse.Namespace):
    from ..server.core.config import ServerConfig

    return ServerConfig.from_env(
        database=args.database,
        agents_file=args.agents_file,
        allow_unsigned=args.allow_unsigned,
        allow_unsigned_runner=args.allow_unsigned_runner,
        strategy=args.strategy,
        read_token=args.read_token,
        runner_token=args.runner_token,
        signature_window_s=args.signature_window,
        aggregate_window_s=args.aggregate_window,
        max_batch=args.max_batch,
        communities=args.communities,
        max_content_length=args.max_body,
        sqlite_synchronous=args.sqlite_sync,
    )


def run(args: argparse.Namespace) -> int:
    from . import CliError

    if args.threads is None:
        args.threads = DEFAULT_THREADS[args.interface]
    if args.workers < 1 or args.threads < 1:
        raise CliError("workers and threads: must be >= 1")
    if not (0 < args.header_timeout <= 3600 and 0 < args.body_timeout <= 3600):
        raise CliError("header-timeout and body-timeout: seconds, > 0 and <= 3600")
    config = build_config(args)
    from .serve_host import metrics_dir as make_metrics_dir
    from .serve_host import raise_fd_limit, refuse_taken_port

    taken = refuse_taken_port(args.host, args.port)
    if taken:
        raise CliError(taken)
    args.fd_limit = raise_fd_limit()
    args.server_pid = os.getpid()
    metrics_dir = make_metrics_dir()
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
            f"({args.interface}, {args.workers} workers x {args.threads} threads); "
            f"store {store._safe_url()} "
            f"(schema {version}); posts: "
            + ("signed or unsigned" if config.allow_unsigned else "signed only")
            + (f"; allowed agents from {config.agents_file}" if config.agents_file else "")
            + ("; reads need a bearer token" if config.read_token else "")
        )
        if config.allow_unsigned:
            _say(
                f"WARNING: --allow-unsigned: this server is open to anyone who can reach "
                f"{args.host}:{args.port}: unsigned posts are accepted from any client there"
                + (
                    ", and anyone may publish /state (--allow-unsigned-runner)"
                    if config.allow_unsigned_runner
                    else ""
                )
            )
        if args.interface == "wsgi":
            _say(
                "note: --interface wsgi has no request-body deadline: a few slow clients "
                "(one per thread) can hold every thread; rsgi (the default) times bodies out"
            )
        if args.host not in ("127.0.0.1", "localhost", "::1") and not config.read_token:
            _say(f"warning: listening on {args.host} and reads need no token (see --read-token)")
        _granian(args, config).serve(target_loader=lambda _target: _load_app(args, config))
        return 0
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _say(text: str) -> None:
    print(f"energy-agents serve: {text}", file=sys.stderr, flush=True)


def _load_app(args: argparse.Namespace, config):
    """In each worker (forked from this process): the app."""
    import gc

    from ..agents.procs import die_with_parent

    # First: a worker outliving a SIGKILLed server would go on serving (and storing) alone.
    die_with_parent(args.server_pid, signal.SIGKILL)
    from ..server import create_app

    app = create_app(config)
    if args.interface == "rsgi":
        from ..server.serve.rsgi import ServerApp

        app = ServerApp(app, args.threads, body_timeout_s=args.body_timeout)
    # What exists now lives as long as the worker: out of the collector's sight, a full
    # collection takes about 1 ms instead of 25 ms (a 25 ms stall of every request in flight).
    gc.collect()
    gc.freeze()
    return app


def _granian(args: argparse.Namespace, config):
    """granian's process manager, serving the app in ``--workers`` processes. The workers
    are forked from this process, so each one builds its own app (connections, metrics) from
    ``config`` (``_load_app``)."""
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    return Server(
        "energy_agents.server:create_app",  # a label: target_loader builds the app
        address=args.host,
        port=args.port,
        interface=Interfaces.RSGI if args.interface == "rsgi" else Interfaces.WSGI,
        workers=args.workers,
        # wsgi: --threads Python threads run the requests; more wait on granian's Rust side.
        # rsgi: one event loop thread (granian allows no more); ServerApp has its own pool.
        blocking_threads=args.threads if args.interface == "wsgi" else 1,
        backlog=4096,
        backpressure=max(64, min(CONNECTIONS_PER_WORKER, args.fd_limit - 256)),
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(header_read_timeout=int(args.header_timeout * 1000)),
        websockets=False,
        log_level=LogLevels(args.log_level),
        log_dictconfig=_logging(args.log_level),
        respawn_failed_workers=True,  # a crashed worker is replaced
        workers_kill_timeout=10,  # graceful stop: in-flight requests get 10 s
    )


def _logging(level: str) -> dict:
    """granian's log and ours (``energy_agents.*``) on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "generic": {
                "format": "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "generic",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {"_granian": {"handlers": ["stderr"], "propagate": False}},
        "root": {"handlers": ["stderr"], "level": level.upper()},
    }

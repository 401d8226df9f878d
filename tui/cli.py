"""Command line: the TUI, and the headless commands (collect, snapshot, sim, ask, rules, serve,
mcp).

Every failure a user can cause ends in one line on stderr and a non-zero exit:
2 for bad input (config, arguments), 1 for a failure at run time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loguru import logger

from tui.config import ConfigError, Settings, load_settings
from tui.exit_codes import EXIT_FAILURE, EXIT_OK, EXIT_SIGPIPE, EXIT_USAGE
from tui.gc_tuning import calm_gc
from tui.logging_setup import configure_logging
from tui.mode import Mode, choose_mode, requested_mode, resolve_mode
from tui.shutdown import stop_event_on_signals
from tui.sources.base import SourceError
from tui.store import StoreError
from tui.text import one_line
from tui.version import installed_version


class CliError(Exception):
    """A run-time failure reported as one line, exit 1."""


def _common_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Options accepted before or after the subcommand."""
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument("--config", type=Path, default=default, help="config file (TOML)")
    parser.add_argument(
        "--demo", action="store_true", default=default, help="use the simulated cluster"
    )
    parser.add_argument("--nodes", type=int, default=default, help="simulated nodes (demo)")
    parser.add_argument("--seed", type=int, default=default, help="simulation seed (demo)")
    parser.add_argument(
        "--readonly", action="store_true", default=default, help="disable all cluster actions"
    )
    parser.add_argument(
        "--from-terraform",
        type=Path,
        default=default,
        metavar="DIR",
        help="connect to the cluster described by `terraform output -json` in DIR",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clusterdash",
        description="Terminal dashboard for Slurm GPU clusters.",
    )
    _common_options(parser, suppress=False)
    parser.add_argument("--version", action="version", version=f"clusterdash {installed_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def sub(name: str, help_text: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text, description=help_text)
        _common_options(command, suppress=True)
        return command

    sub("tui", "the full-screen dashboard (the default)")
    sub("collect", "headless collector: history and alerts while nobody watches")
    snapshot = sub("snapshot", "run one collection cycle and print it")
    snapshot.add_argument("--json", action="store_true", help="stable JSON (see README)")
    sim = sub("sim", "serve the simulated cluster's GPU metrics over HTTP")
    sim.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=9410, help="port (default 9410)")
    report = sub("report", "GPU usage and cost per user, account and job, from the history")
    report.add_argument("--since", default="7d", help="period to report, e.g. 24h, 7d (default 7d)")
    report.add_argument(
        "--format", default="table", help="table, markdown, csv or json (default table)"
    )
    ask = sub("ask", "ask the cluster assistant one question; the answer streams to stdout")
    ask.add_argument("question", help="the question, quoted")
    rules = sub("rules", "alert rules")
    rules_commands = rules.add_subparsers(dest="rules_command", metavar="ACTION")
    check = rules_commands.add_parser("check", help="validate a rules file")
    check.add_argument("file", type=Path)
    mcp = sub("mcp", "serve the assistant's tools to MCP clients (AI agents) on stdio")
    mcp.add_argument(
        "--allow-actions",
        action="store_true",
        help="offer drain/resume/cancel/requeue/hold/release, each confirmed by the operator",
    )
    serve = sub("serve", "serve the dashboard to a browser (textual-serve)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--allow-actions", action="store_true", help="web sessions may act")
    serve.add_argument(
        "--token-file", type=Path, help="file holding the token browsers must present"
    )
    serve.add_argument("--max-sessions", type=int, help="concurrent browser sessions")
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides: dict[str, dict[str, Any]] = {"demo": {}}
    if getattr(args, "nodes", None) is not None:
        overrides["demo"]["nodes"] = args.nodes
    if getattr(args, "seed", None) is not None:
        overrides["demo"]["seed"] = args.seed
    from_terraform = getattr(args, "from_terraform", None)
    if from_terraform is not None:
        from tui.terraform_outputs import TerraformOutputsError, read_terraform_config

        try:
            fragment = read_terraform_config(from_terraform)
        except TerraformOutputsError as error:
            raise ConfigError(f"--from-terraform: {error}") from None
        for section, values in fragment.items():
            overrides.setdefault(section, {}).update(values)
    return load_settings(
        getattr(args, "config", None),
        overrides=overrides,
        readonly=bool(getattr(args, "readonly", False)),
    )


def _headless_mode(settings: Settings, demo_flag: bool, configured: bool) -> Mode:
    """The mode for snapshot/collect/ask, saying on stderr when no Slurm means simulated."""
    choice = choose_mode(settings, demo_flag, configured)
    if choice.note:
        print(f"clusterdash: {choice.note}", file=sys.stderr)
    return choice.mode


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "tui"
    try:
        settings = settings_from_args(args)
    except ConfigError as error:
        print(f"clusterdash: {error}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings, to_stderr=command in ("collect", "sim", "mcp"))
    try:
        return _dispatch(command, args, settings)
    except (ConfigError, ValueError) as error:
        print(f"clusterdash: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (CliError, StoreError, SourceError) as error:
        print(f"clusterdash: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except BrokenPipeError:
        return _reader_went_away()
    except OSError as error:
        print(f"clusterdash: {one_line(error)}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


def _reader_went_away() -> int:
    """stdout's reader closed it (`| head`): stop quietly, as a tool killed by SIGPIPE does."""
    # Python would report the failed flush of stdout at exit; point it at /dev/null first.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_SIGPIPE


def _dispatch(command: str, args: argparse.Namespace, settings: Settings) -> int:
    demo_flag = bool(getattr(args, "demo", False))
    configured = getattr(args, "from_terraform", None) is not None
    if command == "tui":
        from tui.app.main import run_app

        return run_app(settings, resolve_mode(settings, demo_flag, configured))
    if command == "snapshot":
        return asyncio.run(
            _snapshot(settings, _headless_mode(settings, demo_flag, configured), args.json)
        )
    if command == "collect":
        return asyncio.run(_collect(settings, _headless_mode(settings, demo_flag, configured)))
    if command == "sim":
        return asyncio.run(_sim(settings, args.host, args.port))
    if command == "report":
        from tui.report_command import report_command

        return asyncio.run(
            report_command(
                settings,
                _headless_mode(settings, demo_flag, configured),
                args.since,
                args.format,
            )
        )
    if command == "ask":
        from tui.agent.cli_ask import ask_command

        return asyncio.run(
            ask_command(settings, _headless_mode(settings, demo_flag, configured), args.question)
        )
    if command == "rules":
        if args.rules_command != "check":
            raise ValueError("usage: clusterdash rules check FILE")
        from tui.alerts.rules_file import check_rules_command

        return check_rules_command(args.file)
    if command == "mcp":
        if args.allow_actions and settings.readonly:
            raise ValueError("--readonly forbids --allow-actions")
        from tui.mcp_server.command import serve_stdio

        mode = requested_mode(settings, demo_flag)
        return asyncio.run(serve_stdio(settings, mode, args.allow_actions))
    if command == "serve":
        from tui.web import serve_command

        return serve_command(
            settings,
            args.host,
            args.port,
            args.allow_actions,
            mode=resolve_mode(settings, demo_flag, configured),
            token_file=args.token_file,
            max_sessions=args.max_sessions,
            from_terraform=getattr(args, "from_terraform", None),
        )
    raise ValueError(f"unknown command {command}")


async def _snapshot(settings: Settings, mode: Mode, as_json: bool) -> int:
    from tui.snapshot_output import snapshot_json, snapshot_table

    attached = await _snapshot_from_collector(settings, mode, as_json)
    if attached is not None:
        return attached
    from tui.services import build_services

    services = await build_services(settings, mode, with_store=False)
    try:
        snapshot = await services.collector.collect_once()
    finally:
        await services.aclose()
    price = settings.cluster.gpu_hourly_price
    print(snapshot_json(snapshot, price) if as_json else snapshot_table(snapshot, price))
    return _snapshot_exit_code(snapshot)


def _snapshot_exit_code(snapshot: Any) -> int:
    failing = [h for h in snapshot.health.values() if not h.ok and h.enabled]
    return EXIT_FAILURE if failing and len(failing) == len(snapshot.health) else EXIT_OK


async def _snapshot_from_collector(settings: Settings, mode: Mode, as_json: bool) -> int | None:
    """The running collector's current snapshot, exactly as it would print it; None if none."""
    from tui.collect_client import CollectorUnavailable, RemoteCollector, find_collector, request
    from tui.snapshot_output import snapshot_table

    found = await find_collector(settings, mode)
    if found is None:
        return None
    path, hello = found
    try:
        if as_json:
            reply = await request(path, {"op": "snapshot"})
            print(reply["snapshot_json"])
            sources = json.loads(reply["snapshot_json"])["sources"].values()
            all_failing = bool(sources) and not any(source["ok"] for source in sources)
            return EXIT_FAILURE if all_failing else EXIT_OK
        remote = RemoteCollector(path, str(hello.get("cluster", "")), demo=mode == Mode.DEMO)
        snapshot = await remote.collect_once()
    except CollectorUnavailable as error:
        raise CliError(str(error)) from None
    print(snapshot_table(snapshot, settings.cluster.gpu_hourly_price))
    return _snapshot_exit_code(snapshot)


async def _collect(settings: Settings, mode: Mode) -> int:
    from tui.collect_client import serving_socket
    from tui.collect_server import CollectServer
    from tui.services import build_services

    services = await build_services(settings, mode, role="collect", require_writer=True)
    server = CollectServer(services, serving_socket(settings), group=settings.collector.group)
    try:
        await server.start()
    except OSError as error:
        await services.aclose()
        raise CliError(f"cannot serve viewers on {server.socket_path}: {one_line(error)}") from None
    services.closers.append(server.aclose)
    if settings.collector.http_port:
        from tui.collect_http import CollectHttp

        http = CollectHttp(server, settings.collector.http_port)
        try:
            await http.start()
        except OSError as error:
            await services.aclose()
            raise CliError(
                f"cannot serve /api/v1 on 127.0.0.1:{http.port}: {one_line(error)}"
            ) from None
        services.closers.append(http.aclose)
    task = asyncio.current_task()
    assert task is not None
    stop = stop_event_on_signals()
    store = services.store.path if services.store else None
    logger.info("collecting {} ({} mode) into {}", services.cluster_name, mode, store)
    restore_gc = calm_gc()  # the start-up objects exist: see tui/gc_tuning
    runner = asyncio.create_task(services.run_background())
    waiter = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({runner, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done and runner.exception() is not None:
            raise CliError(f"collector stopped: {runner.exception()}")
    finally:
        runner.cancel()
        waiter.cancel()
        await asyncio.gather(runner, waiter, return_exceptions=True)
        await services.aclose()
        restore_gc()
        logger.info("collector stopped")
    return EXIT_OK


async def _sim(settings: Settings, host: str, port: int) -> int:
    from tui.sim import serve_forever

    stop = stop_event_on_signals()
    try:
        await serve_forever(
            nodes=settings.demo.nodes, seed=settings.demo.seed, host=host, port=port, stop=stop
        )
    except OSError as error:
        raise CliError(f"cannot serve on {host}:{port}: {error.strerror or error}") from None
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

"""The ``pictor`` command line: a thin layer that parses arguments and calls library
functions.  Every command accepts ``--config FILE``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from indexer.config import ConfigError, Settings, load_settings
from indexer.errors import PictorError
from origin.services import parse_presets

Handler = Callable[[argparse.Namespace, Settings], int]
COMMANDS: dict[str, Handler] = {}


def command(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        COMMANDS[name] = handler
        return handler

    return register


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS, help="TOML configuration file"
    )
    common.add_argument(
        "--data", metavar="DIR", default=argparse.SUPPRESS, help="data directory (server.data_dir)"
    )
    parser = argparse.ArgumentParser(prog="pictor", description=__doc__, parents=[common])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[common], help="run Nginx + origin (+ worker)")
    serve.add_argument("--no-nginx", action="store_true", help="origin alone serves everything")
    serve.add_argument(
        "--no-worker", action="store_true", help="leave the AI worker to another process"
    )
    serve.add_argument("--port", type=int, help="public port (server.port)")
    serve.add_argument(
        "--ingest",
        metavar="DIR",
        action="append",
        default=[],
        help="ingest this folder (recursively) on startup; repeatable",
    )
    serve.add_argument("--watch", action="store_true", help="keep watching --ingest folders")

    ingest = sub.add_parser("ingest", parents=[common], help="add image files or folders")
    ingest.add_argument("paths", nargs="+", metavar="PATH")
    ingest.add_argument("--recursive", action="store_true", help="descend into sub-folders")
    ingest.add_argument("--watch", action="store_true", help="keep adding new files")

    doctor = sub.add_parser("doctor", parents=[common], help="check originals, files and index")
    doctor.add_argument("--repair", action="store_true", help="fix what can be fixed")
    doctor.add_argument(
        "--grace",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="leave files younger than this alone (writes in flight); default 600",
    )

    sign = sub.add_parser("sign", parents=[common], help="print a signed delivery path")
    sign.add_argument("options", help="option string, e.g. w_800 or fit_cover,h_200,w_200")
    sign.add_argument("target", metavar="ID[.EXT]", help="image id, optionally with extension")

    nginx_config = sub.add_parser(
        "nginx-config", parents=[common], help="print the Nginx configuration (docker-compose)"
    )
    upstream = nginx_config.add_mutually_exclusive_group()
    upstream.add_argument("--socket", metavar="PATH", help="origin socket (default: data/run)")
    upstream.add_argument("--upstream", metavar="HOST:PORT", help="origin reachable over TCP")
    nginx_config.add_argument("--port", type=int, help="port Nginx listens on (server.port)")
    nginx_config.add_argument("--output", metavar="FILE", help="write here instead of stdout")

    keys = sub.add_parser("keys", parents=[common], help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = keys_sub.add_parser("create", parents=[common], help="create a key; prints it once")
    create.add_argument("--name", required=True, help="unique name of the key")
    create.add_argument(
        "--scope", required=True, action="append", help="read,write,delete,sign,admin"
    )
    create.add_argument(
        "--origin", action="append", default=[], help="allowed browser origin; repeatable"
    )
    keys_sub.add_parser("list", parents=[common], help="list keys (never their secrets)")
    revoke = keys_sub.add_parser("revoke", parents=[common], help="revoke the key named NAME")
    revoke.add_argument("name", metavar="NAME")
    from origin import ops_commands  # registers the cache and report handlers too

    ops_commands.add_parsers(sub, common)
    from origin import index_commands  # search, dupes, jobs, worker

    index_commands.add_parsers(sub, common)
    return parser


def settings_for(args: argparse.Namespace) -> Settings:
    # Flags override the file and the environment; as plain values they are validated
    # like every other source (a bad --port names server.port).
    server: dict[str, Any] = {}
    if getattr(args, "data", None) is not None:
        server["data_dir"] = Path(args.data)
    if getattr(args, "port", None) is not None:
        server["port"] = args.port
    overrides: dict[str, Any] = {"server": server} if server else {}
    settings = load_settings(getattr(args, "config", None), **overrides)
    # a bad preset stops every command, naming the key
    parse_presets(settings.presets, settings.watermarks)
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    from origin import commands  # noqa: F401  (registers the command handlers)

    args = build_parser().parse_args(argv)
    try:
        settings = settings_for(args)
        return COMMANDS[args.command](args, settings)
    except ConfigError as error:
        print(f"pictor: {error}", file=sys.stderr)
        return 2
    except PictorError as error:
        print(f"pictor: {error.public}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    # ``python -m origin.cli``: this module runs as ``__main__`` while the handlers register
    # into ``origin.cli.COMMANDS``, so run the ``main`` of the imported module.
    from origin.cli import main as package_main

    sys.exit(package_main())

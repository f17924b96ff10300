"""Handlers of the ``pictor`` subcommands; each one calls into the libraries."""

from __future__ import annotations

import argparse
import sys
import threading
from contextlib import closing
from pathlib import Path

from tqdm import tqdm

from indexer import doctor as doctoring
from indexer import watch as watching
from indexer.config import Settings
from indexer.db import open_database
from indexer.folders import collect, ingest_files
from indexer.keys import create_key, list_keys, revoke_key
from indexer.layout import DataLayout
from origin import nginx
from origin import serve as serving
from origin.cli import command
from origin.options import parse_options
from origin.signing import signed_path
from origin.urls import parse_target


@command("serve")
def serve(args: argparse.Namespace, settings: Settings) -> int:
    return serving.run(
        settings,
        no_nginx=args.no_nginx,
        no_worker=args.no_worker,
        ingest=[Path(p) for p in args.ingest],
        watch=args.watch,
        config=getattr(args, "config", None),
    )


@command("ingest")
def ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when every file is stored (new or duplicate), 1 when any was rejected."""
    paths = [Path(p) for p in args.paths]
    if args.watch:
        return ingest_and_watch(settings, paths, args.recursive)
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    files = collect(paths, args.recursive)
    with (
        closing(open_database(layout.database)) as connection,
        tqdm(total=len(files), unit="img", disable=None, file=sys.stderr) as bar,
    ):
        summary = ingest_files(connection, layout, settings, files, lambda _: bar.update())
    for line in summary.lines():
        print(line)
    return summary.exit_code


def ingest_and_watch(settings: Settings, folders: list[Path], recursive: bool) -> int:
    """``--watch``: ingest the folders, then keep adding new files until Ctrl-C/SIGTERM."""
    if not_folders := [str(path) for path in folders if not path.is_dir()]:
        print(f"pictor: --watch needs folders; not a folder: {', '.join(not_folders)}",
              file=sys.stderr)
        return 2
    stop = threading.Event()
    watching.stop_on_signals(stop)
    watching.run(settings, folders, watch=True, recursive=recursive, stop=stop,
                 report=lambda line: print(line, flush=True))
    return 0


@command("doctor")
def doctor(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when everything is consistent (after repairs), 1 when problems remain."""
    layout = DataLayout.at(settings.data_dir)
    if not layout.database.exists():
        print(f"pictor: no data directory at {layout.root}", file=sys.stderr)
        return 2
    with closing(open_database(layout.database)) as connection:
        report = doctoring.run(connection, layout, settings, repair=args.repair, grace=args.grace)
    for line in doctoring.render(report, layout, args.repair):
        print(line)
    return report.exit_code


@command("sign")
def sign(args: argparse.Namespace, settings: Settings) -> int:
    options = parse_options(args.options).canonical
    target = parse_target(args.target)
    keys = settings.security.signing_keys
    if not keys:  # like POST /api/sign: the URL that works in unsigned mode
        print("pictor: no signing key configured (security.signing_keys); "
              "printing the unsigned path", file=sys.stderr)
        print(f"/img/_/{options}/{target.raw}")
        return 0
    print(signed_path(keys[0], options, target.raw))
    return 0


@command("nginx-config")
def nginx_config(args: argparse.Namespace, settings: Settings) -> int:
    """Render the Nginx configuration, e.g. for the nginx container of docker-compose."""
    layout = DataLayout.at(settings.data_dir)
    if args.upstream:
        try:
            upstream = nginx.tcp_upstream(args.upstream)
        except ValueError as error:
            print(f"pictor: --upstream: {error}", file=sys.stderr)
            return 2
    else:
        socket = Path(args.socket).resolve() if args.socket else nginx.default_socket(layout)
        upstream = nginx.unix_upstream(socket)
    if args.output:
        nginx.write_config(settings, layout, upstream, Path(args.output))
    else:
        text = nginx.render_config(settings, layout, upstream)
        nginx.prepare(layout)
        sys.stdout.write(text)
    return 0


@command("keys")
def keys(args: argparse.Namespace, settings: Settings) -> int:
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    with closing(open_database(layout.database)) as connection:
        if args.keys_command == "create":
            key, plaintext = create_key(connection, args.name, args.scope, args.origin)
            print(f"created key {key.name!r} with scopes {' '.join(sorted(key.scopes))}")
            print("store it now, it is shown only once:")
            print(plaintext)
        elif args.keys_command == "revoke":
            print(f"revoked key {revoke_key(connection, args.name).name!r}")
        else:
            print("NAME\tPREFIX\tSCOPES\tORIGINS\tCREATED\tLAST USED\tREVOKED")
            for key in list_keys(connection):
                fields = (key.name, key.prefix + "…", ",".join(sorted(key.scopes)),
                          ",".join(key.origins) or "-", key.created_at,
                          key.last_used_at or "-", key.revoked_at or "-")
                print("\t".join(fields))
    return 0

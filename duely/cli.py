"""The `duely` command: run the stack or one of its parts, migrate, manage users."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys

from duely.models import Role
from duely.settings import Settings


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("passwords differ")
    return first


def cmd_up(settings: Settings, args: argparse.Namespace) -> None:
    from duely.up import run_stack

    raise SystemExit(run_stack(settings, demo=not args.no_demo))


def cmd_web(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    uvicorn.run(
        "duely.web.app:create_app",
        factory=True,
        host=settings.web_host,
        port=settings.web_port,
        workers=args.workers,
        proxy_headers=True,
        log_level="info",
    )


def cmd_sandbox(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from duely.sandbox.accountsiq.sandbox import AccountsIQSandbox
    from duely.sandbox.app import create_sandbox_app
    from duely.sandbox.quickbooks.sandbox import QuickBooksSandbox
    from duely.sandbox.xero.sandbox import XeroSandbox, base_url_for_port

    xero = XeroSandbox.with_demo(
        snapshot_path=settings.home / "sandbox" / "xero.json",
        web_url=settings.public_url,
        base_url=base_url_for_port(settings.sandbox_port),
    )
    quickbooks = QuickBooksSandbox.with_demo(
        snapshot_path=settings.home / "sandbox" / "quickbooks.json", web_url=settings.public_url
    )
    accountsiq = AccountsIQSandbox.with_demo(
        snapshot_path=settings.home / "sandbox" / "accountsiq.json"
    )
    uvicorn.run(
        create_sandbox_app(xero, quickbooks=quickbooks, accountsiq=accountsiq),
        host="127.0.0.1",
        port=settings.sandbox_port,
        log_level="warning",
    )


def cmd_worker(settings: Settings, args: argparse.Namespace) -> None:
    from duely.worker import main

    main(settings)


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    from duely.migrate import upgrade

    upgrade(settings.resolved_database_url)
    print("database is at the latest schema")


def cmd_createuser(settings: Settings, args: argparse.Namespace) -> None:
    from duely.accounts.organisations import create_user

    password = _read_password(args.password_stdin)
    try:
        result = create_user(
            settings.resolved_database_url, args.email, password, Role(args.role), args.organisation
        )
    except ValueError as error:
        raise SystemExit(f"error: {error}") from error
    if not result.created:
        raise SystemExit(f"error: a user with email {args.email} already exists")
    print(f"created {args.role} {args.email} in organisation {result.organisation_id}")


def cmd_seed_demo(settings: Settings, args: argparse.Namespace) -> None:
    from duely.accounts.organisations import seed_demo

    org_id = seed_demo(
        settings.resolved_database_url,
        settings.demo_email,
        settings.demo_password,
        settings.demo_quickbooks_email,
        settings.demo_accountsiq_email,
        settings.demo_spreadsheet_email,
    )
    print(
        f"demo organisation {org_id}: sign in as {settings.demo_email} / {settings.demo_password}"
        f" (the QuickBooks one: {settings.demo_quickbooks_email}, the AccountsIQ one: "
        f"{settings.demo_accountsiq_email}, the spreadsheet one: {settings.demo_spreadsheet_email})"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="duely", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run the whole embedded stack in the foreground")
    up.add_argument("--no-demo", action="store_true", help="do not seed the demo organisation")
    up.set_defaults(run=cmd_up)

    web = commands.add_parser("web", help="serve the web app and API")
    web.add_argument("--workers", type=int, default=1)
    web.set_defaults(run=cmd_web)

    commands.add_parser("worker", help="run the Temporal worker").set_defaults(run=cmd_worker)
    commands.add_parser(
        "sandbox", help="serve the ledger sandboxes (emulated Xero) with the demo organisation"
    ).set_defaults(run=cmd_sandbox)
    commands.add_parser("migrate", help="upgrade the database schema").set_defaults(run=cmd_migrate)

    createuser = commands.add_parser("createuser", help="add a user (password read from stdin)")
    createuser.add_argument("email")
    createuser.add_argument("--role", choices=[r.value for r in Role], default=Role.ADMIN.value)
    createuser.add_argument(
        "--organisation", required=True, help="organisation name; created when it does not exist"
    )
    createuser.add_argument("--password-stdin", action="store_true")
    createuser.set_defaults(run=cmd_createuser)

    commands.add_parser("seed-demo", help="create the demo organisation and users").set_defaults(
        run=cmd_seed_demo
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # One line per HTTP call drowns what matters; failures still surface as errors.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    args.run(Settings(), args)

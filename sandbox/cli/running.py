"""The commands that start, inspect and stop a sandbox: up, status, logs, down."""

from __future__ import annotations

import argparse

from sandbox.cli.commands import usage_error
from sandbox.settings import SandboxSettings
from sandbox.topology import build


def cmd_up(args: argparse.Namespace, settings: SandboxSettings) -> int:
    from sandbox.control.lifecycle import up
    from sandbox.control.stack import parse_scale

    if args.cluster > 1 and settings.broker.url:
        return usage_error(
            f"--cluster {args.cluster} starts private nodes, but RABBITMQ_URL is set; "
            "unset it, or drop --cluster to use the broker it names"
        )
    only = [name.strip() for name in args.only.split(",")] if args.only else None
    try:
        scale = parse_scale(args.scale)
    except ValueError as exc:
        return usage_error(str(exc))
    return up(
        settings.state_dir,
        as_json=args.json,
        timeout_s=args.timeout,
        only=only,
        profile=args.profile,
        random_ports=args.random_ports,
        cluster=args.cluster,
        scale=scale,
    )


def cmd_down(args: argparse.Namespace, settings: SandboxSettings) -> int:
    from sandbox.control.lifecycle import down

    purge = build(settings.broker) if args.purge else None
    return down(settings.state_dir, purge=purge, external_url=settings.broker.url)


def cmd_status(args: argparse.Namespace, settings: SandboxSettings) -> int:
    from sandbox.control.lifecycle import status

    return status(settings.state_dir, as_json=args.json)


def cmd_logs(args: argparse.Namespace, settings: SandboxSettings) -> int:
    from sandbox.control.logs import show

    return show(
        settings.state_dir,
        args.service,
        args.lines,
        follow=args.follow,
        correlation_id=args.correlation_id,
    )

"""smemu doctor: what is wrong with this set-up, one line per check, and how to fix it."""

from __future__ import annotations

import json
import sys

import click

from emulator.cli.group import clean_errors, cli
from emulator.server import doctor as checks


@cli.command()
@click.option("--endpoint-url", envvar="SMEMU_ENDPOINT_URL",
              help="The smemu endpoint to check (default: the local one).")
@click.option("--port", type=int, help="The local endpoint on this port.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@clean_errors
def doctor(endpoint_url: str | None, port: int | None, as_json: bool) -> None:
    """Check Docker, the images, the endpoint, its S3, the state directory, inotify limits and
    loopback; exit code 0 only when all is well.

    Each line is `ok`, `FAIL` (what is wrong and how to fix it) or `skip` (not checkable
    because of a failure above)."""
    if endpoint_url and port:
        raise click.UsageError("give --endpoint-url or --port, not both")
    url = endpoint_url or (f"http://127.0.0.1:{port}" if port else None)
    findings = checks.run_checks(url)
    report = checks.as_json(findings)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        for finding in findings:
            colour = {"ok": "green", "FAIL": "red"}.get(finding.status, "yellow")
            click.echo(click.style(f"{finding.status:<4}", fg=colour, bold=True)
                       + finding.line[4:])
        failed = sum(f.status == checks.FAIL for f in findings)
        click.echo("all is well" if not failed else f"{failed} problem(s) found")
    sys.exit(0 if report["ok"] else 1)

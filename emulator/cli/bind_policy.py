"""Where the endpoint may listen: loopback unless the user says otherwise, loudly.

The endpoint has no authentication and starts containers with host bind mounts, so anyone who
can reach its port can read the host's files: off loopback it needs `--allow-remote`.
"""

from __future__ import annotations

import ipaddress

import click

ALLOW_FLAG = "--allow-remote"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def check_bind(host: str, allow_remote: bool) -> None:
    """Refuse a non-loopback address without the flag; with it, warn on stderr."""
    if is_loopback(host):
        return
    if not allow_remote:
        raise click.UsageError(
            f"refusing to listen on {host}: it is not a loopback address, and the endpoint has "
            f"no authentication (anyone who reaches it can start containers and read this "
            f"machine's files). Pass {ALLOW_FLAG} to listen there anyway (e.g. 0.0.0.0 inside "
            f"a container whose port is published only to 127.0.0.1).")
    bar = "!" * 78
    click.echo(f"{bar}\nWARNING: smemu is listening on {host}, not on loopback. The endpoint has "
               f"no authentication:\nanyone who can reach this port can start containers and "
               f"read this machine's files.\n{bar}", err=True)

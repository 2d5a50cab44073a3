"""Runs inside the S3 gateway container (standard library only, Python 3.7+).

Listens on TCP inside the job's internal network and pipes every connection to the endpoint's
unix socket, bind-mounted from the host: training containers reach the emulator's S3 with no IP
route off their network.

Each connection to the socket starts with a PROXY protocol v1 line (HAProxy's format), written
here before any byte of the container's: the container's address and the gateway's own address
on the network the connection came in on. The gateway has one address per job network, so the
endpoint knows which job a request is from; a container cannot forge the line (its bytes come
after it) nor reach another job's network.

    python3 gateway_forwarder.py PORT /run/smemu/endpoint.sock [LISTEN_ADDRESS]
"""

import asyncio
import contextlib
import sys
from typing import Awaitable, Callable, Tuple


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()


def proxy_line(peer: Tuple[str, int], local: Tuple[str, int]) -> bytes:
    """PROXY TCP4 <source> <destination> <source port> <destination port>"""
    family = "TCP6" if ":" in peer[0] else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (family, peer[0], local[0], peer[1], local[1])).encode()


def _handler(socket_path: str) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                           Awaitable[None]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(socket_path)
        except OSError:
            writer.close()
            return
        up_writer.write(proxy_line(writer.get_extra_info("peername")[:2],
                                   writer.get_extra_info("sockname")[:2]))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    return handle


async def _main(port: int, socket_path: str, host: str) -> None:
    server = await asyncio.start_server(_handler(socket_path), host, port)
    port = server.sockets[0].getsockname()[1]  # the one bound, when asked for port 0
    print("smemu gateway: %s:%d -> %s" % (host, port, socket_path), flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_main(int(sys.argv[1]), sys.argv[2],
                      sys.argv[3] if len(sys.argv) > 3 else "0.0.0.0"))

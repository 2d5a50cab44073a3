"""Runs inside the S3 gateway container (standard library only, Python 3.7+).

Listens on TCP inside the job's internal network and pipes every connection to the endpoint's
unix socket, bind-mounted from the host: training containers reach the emulator's S3 with no IP
route off their network.

    python3 gateway_forwarder.py PORT /run/smemu/endpoint.sock
"""

import asyncio
import contextlib
import sys
from typing import Awaitable, Callable


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


def _handler(socket_path: str) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                           Awaitable[None]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(socket_path)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    return handle


async def _main(port: int, socket_path: str) -> None:
    server = await asyncio.start_server(_handler(socket_path), "0.0.0.0", port)
    print("smemu gateway: 0.0.0.0:%d -> %s" % (port, socket_path), flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_main(int(sys.argv[1]), sys.argv[2]))

"""The listening socket: bound once, and at the end closed without resetting anybody.

Closing a listening socket resets every connection in its accept queue: connections the
kernel completed on the gateway's behalf, whose clients have sent their request already
and see it fail after sending, which they cannot safely retry. So before the socket
closes, the kernel is told to drop new connection attempts at it (a socket filter that
discards SYN segments); the connections already queued, and the handshakes under way,
are accepted and answered; then the socket closes. A client whose SYN was dropped sends
it again a second later and finds the port closed (connection refused, which it may
retry elsewhere) or the next process already listening.
"""

from __future__ import annotations

import ctypes
import socket
import struct
import sys
from typing import Final

from gateway.edges.settings import Settings

# <asm-generic/socket.h>; Linux only.
_SO_ATTACH_FILTER: Final = 26
# A classic BPF program, run on each segment that reaches the listening socket (and,
# inherited, on connections accepted from it). A socket filter on TCP sees the segment
# from its TCP header on; byte 13 holds the flags.
_DROP_NEW_CONNECTIONS: Final = (
    (0x30, 0, 0, 13),  # ldb [13]
    (0x54, 0, 0, 0x12),  # and #(SYN | ACK)
    (0x15, 0, 1, 0x02),  # jeq #SYN: a connection attempt, drop it
    (0x06, 0, 0, 0),  # ret #0: dropped
    (0x06, 0, 0, 0xFFFFFFFF),  # ret #-1: kept whole
)


def bind(settings: Settings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    sock.set_inheritable(True)
    return sock


def refuse_new_connections(sock: socket.socket) -> bool:
    """From now on the kernel drops connection attempts at this listening socket; those
    it has completed already stay queued for accepting. False where that cannot be done
    (not Linux): then closing the socket resets what is queued, as it always did."""
    if not sys.platform.startswith("linux"):
        return False
    code = b"".join(struct.pack("HBBI", *instruction) for instruction in _DROP_NEW_CONNECTIONS)
    program = ctypes.create_string_buffer(code, len(code))
    # struct sock_fprog {unsigned short len; struct sock_filter *filter;}; the kernel
    # copies the program, so the buffer need not outlive the call.
    fprog = struct.pack("HP", len(_DROP_NEW_CONNECTIONS), ctypes.addressof(program))
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
    except OSError:
        return False
    return True

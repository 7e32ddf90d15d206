"""Test helper: print a free TCP port on 127.0.0.1 (no argument) or send one runtime API command (socket, command)."""
import socket
import sys

if len(sys.argv) == 1:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
else:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(sys.argv[1])
        s.sendall(sys.argv[2].encode() + b"\n")
        print(s.makefile().read())

"""``python -m tests.hub_emulator --port N --token T [--no-xet]``: a standalone emulated Hub."""

from __future__ import annotations

import errno
import threading

from .server import HubEmulator


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.hub_emulator --port N --token T [--no-xet]``: serve on 127.0.0.1:N until
    SIGTERM or SIGINT, after printing ``ready http://127.0.0.1:N``. Exit 1 if a request crashed
    the emulator (the crashes are printed), 2 with one line if the port is taken."""
    import argparse
    import signal
    import sys

    parser = argparse.ArgumentParser(prog="python -m tests.hub_emulator", description=main.__doc__)
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1 (0: any)")
    parser.add_argument("--token", required=True, help="accepted as a write token of user `user`")
    parser.add_argument("--no-xet", action="store_true", help="no Xet: legacy LFS clients only")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        emulator = HubEmulator({args.token: "write"}, xet=not args.no_xet, port=args.port)
    except OSError as e:
        if e.errno != errno.EADDRINUSE:
            raise
        print(
            f"error: port {args.port} on 127.0.0.1 is in use (another emulator?): choose "
            "another --port, or --port 0 for any free one",
            file=sys.stderr,
        )
        return 2
    with emulator as emu:
        print(f"ready {emu.endpoint}", flush=True)
        while not stop.wait(0.2):
            pass
        for error in emu.errors:
            print(f"emulator error: {error}", file=sys.stderr)
        return 1 if emu.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())

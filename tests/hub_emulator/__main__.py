"""``python -m tests.hub_emulator --port N --token T [--no-xet]``: a standalone emulated Hub."""

import sys

from .server import main

sys.exit(main())

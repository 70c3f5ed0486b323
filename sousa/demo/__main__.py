"""`python -m sousa.demo DIR`: see `sousa.demo.cli`."""

import sys

from .cli import main

sys.exit(main())

"""`python -m sousa.demo DIR`: see `sousa.demo.cli`."""

from ..progress import run_main
from .cli import main

run_main(main)

"""`python -m ddim_ref ...`: see ddim_ref/cli.py."""

import sys

from .cli import main

sys.exit(main())

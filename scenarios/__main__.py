"""``python -m scenarios``: the same command line as ``ringsim``."""

import sys

from scenarios.cli import main

sys.exit(main())

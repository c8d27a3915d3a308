"""`python -m leakpatrol.cli`: the same as the `leakpatrol` command."""

import sys

from leakpatrol.cli import main

sys.exit(main())

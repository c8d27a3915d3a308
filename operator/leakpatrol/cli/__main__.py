"""`python -m leakpatrol.cli`: the same as the `leakpatrol` command."""

import sys

from leakpatrol.cli import main

if __name__ == "__main__":  # importing it (pkgutil.walk_packages does) must not run the CLI
    sys.exit(main())

"""`python -m leakpatrol.cli`: the same as the `leakpatrol` command."""

import sys

from leakpatrol.cli import main

if __name__ == "__main__":  # importing the module (tools that walk the package) runs nothing
    sys.exit(main())

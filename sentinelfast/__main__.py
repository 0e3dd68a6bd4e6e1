"""``python -m sentinelfast``: the ``sentinelfast`` operator command (see :mod:`sentinelfast.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

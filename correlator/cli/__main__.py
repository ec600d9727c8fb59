"""``python -m correlator.cli``: the same entry point as the ``correlator`` script."""

import sys

from correlator.cli import main

sys.exit(main())

"""``python -m benchmarks.serving``: see :mod:`benchmarks.serving` and ``--help``."""

import sys

from benchmarks.serving.run import main

sys.exit(main())

"""``python -m harness.labels`` = the labelling tool (see ``harness.labels.cli``)."""

import sys

from harness.labels.cli import main

sys.exit(main())

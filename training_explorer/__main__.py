"""``python -m training_explorer``: the same as the ``training-explorer`` command."""

import sys

from training_explorer import main

sys.exit(main())

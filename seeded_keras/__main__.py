"""``python -m seeded_keras``: the same as the ``seeded-keras`` command."""

import sys

from .cli import main

sys.exit(main())

"""``python -m idaes_hybrid.cli``."""

import sys

from idaes_hybrid.cli.app import main

sys.exit(main())

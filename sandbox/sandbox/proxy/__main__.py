"""``python -m sandbox.proxy``: see :func:`sandbox.proxy.main`."""

import sys

from sandbox.proxy import main

sys.exit(main())

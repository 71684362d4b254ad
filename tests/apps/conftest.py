"""Real third-party sites (examples/sites): collected only by `make test-apps`.

They build each site's venv from PyPI and seed it (minutes), so the default pytest run (`make
pytest`, `make test`) leaves them out; PGMIGRATE_TEST_APPS=1 (set by `make test-apps`) brings them in.
"""

from __future__ import annotations

import os

if os.environ.get("PGMIGRATE_TEST_APPS") != "1":
    collect_ignore_glob = ["test_*.py"]

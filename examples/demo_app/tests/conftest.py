"""Make the demo project importable (``demo_project.envconfig``) from any cwd."""

import sys
from pathlib import Path

DEMO_APP_DIR = str(Path(__file__).resolve().parent.parent)
if DEMO_APP_DIR not in sys.path:
    sys.path.insert(0, DEMO_APP_DIR)

"""Stand-in for ansible-test's pip bootstrap script (get-pip.py).

ansible-test downloads get-pip from ci-files.testing.ansible.com, which this network cannot
reach; it documents saving the script to ~/.ansible/test/cache/ by hand instead. This file is
saved there by scripts/sanity.sh: it bootstraps pip with ensurepip, then installs the exact
packages ansible-test asked for (pip==<version>, setuptools, wheel) from PyPI.
"""

import subprocess
import sys

ARGS = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--quiet"] + ARGS)

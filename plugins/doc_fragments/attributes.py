# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # What check_mode, diff_mode and platform mean for every module of the collection; each module
    # says its own support (and details).
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
  diff_mode:
    description: Reports the changes it makes (or would make in check mode) in diff mode.
  platform:
    description: The systems the module can run on.
    support: full
    platforms: posix
"""

# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one error style of the collection: helpers raise ModuleError, each module's main() fails once."""

from __future__ import annotations


class ModuleError(Exception):
    """Stop the task with this message (what is wrong and what to do) and these extra result keys."""

    def __init__(self, msg, **result):
        super().__init__(msg)
        self.result = result

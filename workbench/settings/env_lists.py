"""Lists that the environment gives as one string: JSON, or parts between separators.

Each list setting says which separators it takes (an origin holds a colon, a path list is split on
``os.pathsep``), so the split is one function with the separators as its argument.
"""

from __future__ import annotations

import json
import re


def split(value: object, separators: str) -> object:
    """A list given in the environment: JSON, or parts between ``separators`` (a regex), blanks dropped."""
    if isinstance(value, str):
        if value.lstrip().startswith("["):
            return json.loads(value)
        return [part.strip() for part in re.split(separators, value) if part.strip()]
    return value

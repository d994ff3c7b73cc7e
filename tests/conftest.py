"""Shared test setup: function packages importable as Lambda would import them."""

from __future__ import annotations

import sys

from local.template import functions, load_template

for _spec in functions(load_template()):
    if str(_spec.source_dir) not in sys.path:
        sys.path.insert(0, str(_spec.source_dir))

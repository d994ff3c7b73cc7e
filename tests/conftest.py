"""Shared test setup: function packages importable as Lambda would import them."""

from __future__ import annotations

import sys

from local.template import functions, load_template

# Appended, not prepended: whatever is already first on sys.path wins (make mutation puts the
# mutated copies of the same packages there).
for _spec in functions(load_template()):
    if str(_spec.source_dir) not in sys.path:
        sys.path.append(str(_spec.source_dir))

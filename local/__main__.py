"""``python -m local``: run the whole local stack (what ``make dev`` does)."""

from local.stack import main

raise SystemExit(main())

"""`make smoke`: one call per route class against any gateway (deployed, or `make dev`)."""

"""`make bench`: what the gateway's own layer costs, measured against the local stack."""

"""Self-service identity: Okta JWT onboarding (POST /user/new) and guarded key minting (POST /key/generate)."""

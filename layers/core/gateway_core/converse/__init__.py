"""Bedrock Converse <-> OpenAI chat translation (pure functions, no I/O)."""

"""A fake LLM provider speaking OpenAI and Bedrock Runtime, for local runs, tests and load tests."""

"""InvokeModel bodies (Anthropic Messages, Nova messages-v1, Titan and Cohere embeddings) <-> LiteLLM."""

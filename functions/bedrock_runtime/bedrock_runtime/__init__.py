"""Bedrock Runtime interface (Converse, InvokeModel, their streams, CountTokens) over LiteLLM.

The package name is the function folder."""

"""Bedrock Runtime interface (Converse, ConverseStream) over LiteLLM; package name = function folder."""

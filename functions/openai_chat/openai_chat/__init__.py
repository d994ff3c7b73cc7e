"""OpenAI-compatible chat function (package name = function folder, unique across functions)."""

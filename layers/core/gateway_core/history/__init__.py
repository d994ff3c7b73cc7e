"""Server-side chat history on DynamoDB: storage, formats, and the per-turn flow."""

"""Reading, listing and deleting server-side chat history."""

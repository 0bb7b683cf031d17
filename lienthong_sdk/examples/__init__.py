"""Small runnable examples of the SDK."""

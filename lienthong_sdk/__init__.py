"""Python client SDK for Lienthong agency systems and the coordination office."""

"""The events collector: an ASGI service that spools authenticated application events to disk."""

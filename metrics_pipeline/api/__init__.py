"""The read API: the hub's `/metrics/{plugin}` endpoint, data status and bulk export, over one backend."""

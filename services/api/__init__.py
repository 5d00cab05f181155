"""The HTTP API: one router per resource, the dependencies that decide 401 and 403, errors."""

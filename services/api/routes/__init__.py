"""One FastAPI router per resource; each route a few lines over projections and services."""

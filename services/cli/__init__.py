"""`refnet`: thin Typer commands over the same functions as the API."""

"""The web dashboard: server-rendered pages for the coordinator, partner staff and auditors."""

"""Who may read and publish what: every endpoint of the app against every kind of caller."""

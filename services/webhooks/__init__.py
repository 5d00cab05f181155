"""Partner webhooks: endpoints, the notices owed to them, and their signed delivery."""

"""The broker as production needs it: an admin client, topics, principals and ACLs."""

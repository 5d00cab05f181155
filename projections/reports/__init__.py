"""Reports counted from read-model rows: the ESF+ report, shared by the API and the replay."""

"""The shared kernel of the commerce runtime: settings, database, events, auth, observability."""

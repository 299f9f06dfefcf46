"""The Storefleet commerce runtime: one folder per bounded context, plus the platform kernel."""

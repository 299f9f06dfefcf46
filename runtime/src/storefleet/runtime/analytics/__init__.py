"""Analytics: read models for the store's reports, fed only by events."""

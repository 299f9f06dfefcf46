"""The HTTP kernel of every service: the app factory, problem+json errors, request guards."""

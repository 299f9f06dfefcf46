"""Accounts: sign-up, sign-in, MFA, tokens, profiles, addresses, privacy."""

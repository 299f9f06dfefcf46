"""Who is calling and what they may do: roles, tokens, permissions, sessions."""

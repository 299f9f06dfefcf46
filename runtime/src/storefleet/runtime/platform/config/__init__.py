"""Settings read from the environment (and Vault), and the reference docs rendered from them."""

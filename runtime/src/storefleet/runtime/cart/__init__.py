"""The cart context: carts, promo codes, totals and abandoned-cart detection."""

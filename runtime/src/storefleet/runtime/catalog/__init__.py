"""The catalog context: products, variants, categories, brands, inventory and search."""

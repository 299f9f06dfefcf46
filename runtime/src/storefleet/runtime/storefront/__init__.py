"""The storefront: server-rendered pages over the catalog and cart APIs."""

"""The vendors context: a multi-vendor marketplace. Vendors and their staff,
vendor-owned products (kept in the catalog, tagged with the vendor), per-vendor
sub-orders, commissions and payouts on a double-entry ledger, vendor reviews."""

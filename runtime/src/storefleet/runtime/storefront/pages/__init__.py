"""The storefront's pages, one module-level router per journey."""

"""Product Catalog Service."""

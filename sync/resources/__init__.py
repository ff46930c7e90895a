"""One module per Shopify resource, each with its queries and its sync function."""

"""The Shopify side: the Admin GraphQL client, its point budget, answers and breaker."""

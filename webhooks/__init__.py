"""Shopify webhooks: verification, the event log and applying deliveries."""

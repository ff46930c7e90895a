"""Pulling stores from Shopify's Admin GraphQL API with Dramatiq workers."""

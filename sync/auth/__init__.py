"""Store authorization: tokens and their refresh, the token endpoint, scopes, app install."""

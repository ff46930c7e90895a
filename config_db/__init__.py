"""Configuration: settings, client configs and shops in the `appconfig` database."""

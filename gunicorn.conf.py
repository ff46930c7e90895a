"""Gunicorn reads this file from the working directory by itself, so the Procfile stays short."""

logger_class = "config_db.access_log.RedactingLogger"

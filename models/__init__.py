"""Pydantic schemas only: taxonomy, entities, event envelope and payloads, API shapes, settings."""

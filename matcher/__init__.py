"""Matching domain: encoders, vector index, read model, ranking, rosters. Never imports kafka or fastapi."""

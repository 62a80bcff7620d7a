"""The HTTP API: FastAPI routes that translate requests into CommandService/MatchService calls."""

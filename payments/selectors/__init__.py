"""Reads: code that queries the domain models and never writes (services are the writers)."""

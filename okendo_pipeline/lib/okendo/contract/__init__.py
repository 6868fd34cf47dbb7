"""The landing contract: the rules a line must meet, the pydantic models, validation."""

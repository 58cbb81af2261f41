"""The scores API: a FastAPI app that builds its view of every account from the scores topic."""

"""The Flask example: ``./dev example flask`` serves ``app:app`` under waitress."""

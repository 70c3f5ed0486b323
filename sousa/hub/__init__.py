"""Pushing a staging folder to the Hub: calls, pull requests, checks."""

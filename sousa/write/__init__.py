"""Packaging: a generated SOUSA folder → a Hub-ready staging folder."""

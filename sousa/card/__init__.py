"""The dataset card (the staging folder's README.md) and what it shows."""

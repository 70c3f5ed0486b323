"""Loading: the builder that travels in each Hub repo, and sousa.load on top of it."""

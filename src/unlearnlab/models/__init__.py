"""Models: the factory, the one training loop, and the content-addressed store."""

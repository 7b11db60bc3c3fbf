"""The dev commands of `image-mlops`: stack, demo, demo-data (entry points)."""

"""Loaders for the three tasks. Each returns a `Splits` of preprocessed float32 tensors with fixed test splits."""

"""Hybrid IDAES unit models and the contract the training workflow relies on."""

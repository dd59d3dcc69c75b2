"""The model registry: packaged models described once, used from bench configs by id."""

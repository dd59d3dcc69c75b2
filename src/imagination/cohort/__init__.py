"""Cohort layer: manifests, typed cases, loading and validation."""

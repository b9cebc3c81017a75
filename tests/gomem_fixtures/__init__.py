"""Tests of gomem_fixtures: the sparse store and the build-and-crash pipeline."""

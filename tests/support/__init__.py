"""Loopback servers and builders shared by the tests (real servers, no mocks of figmine code)."""

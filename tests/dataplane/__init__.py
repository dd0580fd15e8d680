"""Tests of the HTTP pull data plane (server, client, memory use)."""

"""Shared test configuration. Sandbox fixtures come from the connector-sandbox pytest plugin."""

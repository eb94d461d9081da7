"""Zendesk Support sandbox (users, organizations, custom fields, incremental exports)."""

from sandbox.zendesk.app import ZendeskApp, create_app

__all__ = ["ZendeskApp", "create_app"]

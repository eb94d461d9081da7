"""HubSpot CRM sandbox (contacts, companies, properties, associations, OAuth)."""

from sandbox.hubspot.app import HubSpotApp, create_app

__all__ = ["HubSpotApp", "create_app"]

"""HubSpot CRM sandbox (contacts, companies, properties, associations, OAuth).

``create_app`` builds :class:`HubSpotPeerApp`: the v3 sandbox plus the v2 company paths the
singer-io tap calls (``sandbox.hubspot.peer_paths``).
"""

from sandbox.hubspot.app import HubSpotApp
from sandbox.hubspot.peer_paths import HubSpotPeerApp, create_app

__all__ = ["HubSpotApp", "HubSpotPeerApp", "create_app"]

"""Run the tap: ``python -m tap_hubspot_contacts``."""

from tap_hubspot_contacts.tap import TapHubSpotContacts

TapHubSpotContacts.cli()

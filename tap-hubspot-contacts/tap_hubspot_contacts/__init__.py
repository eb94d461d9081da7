"""Singer tap for HubSpot contacts and companies, built to feed Atlassian CSM."""

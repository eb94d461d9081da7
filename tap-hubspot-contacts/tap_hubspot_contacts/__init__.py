"""Singer tap for HubSpot contacts and companies, incremental, built to feed Atlassian CSM."""

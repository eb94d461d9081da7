"""Singer target loading organizations and customers into Atlassian CSM via its bulk APIs."""

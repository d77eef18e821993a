"""What every feature stands on: the database, money, security, signed links and Temporal
plumbing."""

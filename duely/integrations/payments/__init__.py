"""Payment providers (Stripe), in duely's own terms."""

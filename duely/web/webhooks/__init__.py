"""Webhook endpoints: exempt from sessions and CSRF, verified by each sender's signature."""

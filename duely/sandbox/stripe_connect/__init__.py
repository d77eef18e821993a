"""The Stripe Connect OAuth emulator (Standard accounts), under /stripe-connect.

Real Stripe serves this flow at https://connect.stripe.com: `GET /oauth/authorize` (the
business signs in and picks the account to connect), a redirect back to the platform with a
one-time `code` and the platform's `state`, `POST /oauth/token` (the platform, authenticated
with its secret key, turns the code into the account's `stripe_user_id`) and
`POST /oauth/deauthorize`. localstripe has none of it. tests/sandbox/test_stripe_connect.py
checks this emulator against the official `stripe` package's OAuth client.
"""

"""How Twilio signs what it sends to a webhook (X-Twilio-Signature).

Written apart from duely's own check (duely/integrations/sms.py) on purpose: the tests then
show that two readings of Twilio's rule agree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(url: str, params: dict[str, str], auth_token: str) -> str:
    """base64(HMAC-SHA1(the full URL followed by each POST parameter's name and value in
    alphabetical order of names, keyed with the account's auth token))."""
    payload = url
    for name in sorted(params):
        payload += name + params[name]
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(digest.digest()).decode("ascii")

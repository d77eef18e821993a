"""The Twilio sandbox: a local emulator of Twilio's Programmable Messaging API (send, list and
fetch messages, STOP/START opt-outs, signed inbound and status webhooks) and the capture sink
of every text the embedded stack sends. Start from `TwilioSandbox`."""

from duely.sandbox.twilio.sandbox import TwilioAccount, TwilioSandbox

__all__ = ["TwilioAccount", "TwilioSandbox"]

"""A customer's outbox: the requests chases hand it, when a reminder may go out, opt-outs, and
delivery."""

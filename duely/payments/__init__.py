"""Getting paid: what a card payment is for, which Stripe account takes it, and how Stripe's
events become instructions to the invoices' chase workflows."""

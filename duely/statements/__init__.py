"""Monthly statements: what one lists and the schedule that sends them."""

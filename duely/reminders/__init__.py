"""What a reminder says and when: the organisation's templates and schedules, their defaults,
editing and rendering."""

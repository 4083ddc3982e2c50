"""What every front does with the review queue, built on the store and limiter ports:
expiring overdue reviews and giving their reservation back (`settlement`), and finding
the review behind a job id on the request path (`lookup`)."""

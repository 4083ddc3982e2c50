"""What every front does with the concurrency leases of jobs, built on the store and limiter
ports: freeing a job's slot once the job has ended (`release`)."""

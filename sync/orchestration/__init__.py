"""Running sync jobs: jobs, runs, checkpoints, paging, coordination through Redis."""

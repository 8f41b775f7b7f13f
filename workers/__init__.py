"""Distributors of the pipeline's stage tasks: a local process pool (one machine, no broker) and Celery
workers on a Redis broker (many machines). Both run the same functions of `workers.stages`."""

"""The evaluation harness: offline replay of the worker's batch step, metrics, baselines, reports."""

"""Running services of trustream: the Faust worker, the scores API, the brokers, the CLI."""

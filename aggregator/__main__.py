"""`python -m aggregator` runs the same command as the `aggregator` script."""

from aggregator.cli.main import main

raise SystemExit(main())

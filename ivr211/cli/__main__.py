"""``python -m ivr211.cli``: how ``ivr211 serve`` starts its children (``ivr211.supervise``)."""

from ivr211.cli import main

raise SystemExit(main())

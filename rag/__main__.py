from __future__ import annotations

from rag.apps.cli import main

raise SystemExit(main())

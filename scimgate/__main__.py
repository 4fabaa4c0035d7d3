from scimgate.cli import main

raise SystemExit(main())

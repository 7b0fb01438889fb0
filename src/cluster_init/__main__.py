from cluster_init.cli import main

raise SystemExit(main())

from stylenet.cli.main import main

raise SystemExit(main())

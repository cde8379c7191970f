from stylenet.cli import main

raise SystemExit(main())

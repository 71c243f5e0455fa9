from wirespeed.cli import main

raise SystemExit(main())

from velero_gitops.cli import main

main()

from fcabench.cli import main

main()

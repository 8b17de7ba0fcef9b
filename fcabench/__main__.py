from fcabench.launch import main

main()

from microhub.cli.main import main

main()

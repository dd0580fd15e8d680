from trustspace.cli import main

main()

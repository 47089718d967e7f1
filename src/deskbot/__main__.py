from deskbot.cli import main

main()

from duely.cli import main

main()

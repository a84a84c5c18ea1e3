from srkit.cli import main

main()

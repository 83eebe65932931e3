"""`python -m vidpipe.cli`: the `vidpipe` command."""

from vidpipe.cli import main

if __name__ == "__main__":
    main()

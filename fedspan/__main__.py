"""``python -m fedspan``: the `fedspan` command line."""

from fedspan.cli import main

if __name__ == "__main__":
    main()

"""``python -m cnncalc`` runs the command line."""

from cnncalc.cli import main

if __name__ == "__main__":
    main()

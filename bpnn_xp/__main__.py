"""``python -m bpnn_xp`` and the ``bpnn`` command: the launcher, with Ctrl-C during start-up handled."""

import sys


def main() -> None:
    """Import the launcher and run it; Ctrl-C at any point, even while importing, exits 130 quietly."""
    try:
        from bpnn_xp.cli import main as launcher

        launcher()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()

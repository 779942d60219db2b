"""``python -m bpnn_xp`` is the ``bpnn`` launcher."""

from bpnn_xp.cli import main

if __name__ == "__main__":
    main()

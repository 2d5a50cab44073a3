"""python -m bench: run every benchmark, print the table, write bench/results.md."""

from bench.run import main

if __name__ == "__main__":
    raise SystemExit(main())

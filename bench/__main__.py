"""python -m bench: run every benchmark, print the table, write bench/results.md.
python -m bench ab: the A/B of blob store configurations (bench/ab.py)."""

import sys

if __name__ == "__main__":
    if sys.argv[1:] == ["ab"]:
        from bench.ab import main
    else:
        from bench.run import main
    raise SystemExit(main())

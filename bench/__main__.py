"""python -m bench: run every benchmark, print the table, write bench/results.md.
python -m bench ab: the A/B of blob store configurations (bench/ab.py).
python -m bench s3: the embedded S3's candidates side by side (bench/s3_backends.py).
python -m bench rss: the endpoint's peak RSS while checkpoints go through it
(bench/endpoint_rss.py).
python -m bench e2e: the harness end to end: jobs, interruptions, creates (bench/e2e.py)."""

import sys

if __name__ == "__main__":
    if sys.argv[1:] == ["ab"]:
        from bench.ab import main
    elif sys.argv[1:] == ["s3"]:
        from bench.s3_backends import main
    elif sys.argv[1:] == ["rss"]:
        from bench.endpoint_rss import main
    elif sys.argv[1:] == ["e2e"]:
        from bench.e2e import main
    else:
        from bench.run import main
    raise SystemExit(main())

"""Benchmarks of the checkpoint engine against aws s3 / s5cmd on the same S3 endpoint.

Not part of the test suite: ``python -m bench`` (``make bench``). See bench/run.py.
"""

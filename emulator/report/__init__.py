"""A job's story for people: the self-contained HTML report and its SVG timeline.

Everything here renders a `JobStory` (DescribeTrainingJob, the emulator's per-attempt report,
the checkpoint versions and the logs: the one job history) and does no I/O, except
`gather.py`, which collects a story from an endpoint's clients.
"""

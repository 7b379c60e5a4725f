"""What ``--retry-failed`` can and cannot send again in a campaign that has already run.

A failed label (the oracle raised, or returned a non-finite label) is sent again on request while its
stage has not used it. Once a stage has trained on its other labels (the starting model on the starting
labels; a sampler's iteration k on its batch), sending the failed frames again would change that model and
every model built on it after, so the campaign keeps them failed and says so, naming the stage.
"""
from __future__ import annotations

from .run_dir import START_KEY, RunDir, label_key

RETRY_FLAG = "--retry-failed"


def used_label_jobs(run: RunDir, sampler_names: list, iterations: int) -> list:
    """The label keys whose stage has already used its labels: the starting labels once they are split,
    and a sampler's iteration k once its training file is written."""
    used = [START_KEY] if run.split.exists() else []
    return used + [label_key(name, k) for name in sampler_names for k in range(1, iterations + 1)
                   if run.data_file(name, k, "train").exists()]


def retry_lines(run: RunDir, store, sampler_names: list, iterations: int) -> list:
    """One line per stage that has used its labels and holds failed ones (they stay failed); empty when
    every failed label will be sent again as its stage runs."""
    lines = []
    for job in used_label_jobs(run, sampler_names, iterations):
        failed = store.failed(job)
        if failed:
            stage = "the starting labels" if job == START_KEY else f"iteration {job}"
            many = len(failed) > 1
            lines.append(f"{RETRY_FLAG}: {len(failed)} failed label{'s' * many} of {job} "
                         f"stay{'s' * (not many)} failed: "
                         f"{stage} has already trained on the others, and later models build on it. To label "
                         f"them, start a new run directory (--out)")
    return lines

"""What a campaign records about its own runs (runs.json)."""

def test_an_interrupted_invocation_counts_in_the_wall_time(tmp_path):
    """runs.json opens an entry per invocation; Ctrl-C or an error closes it unfinished, and the totals
    of results.json sum every invocation."""
    from skmd.al.invocations import close_invocation, invocations, open_invocation
    open_invocation(tmp_path)
    assert invocations(tmp_path)[-1]["wall_s"] is None
    close_invocation(tmp_path, 12.5, finished=False)               # interrupted after 12.5 s
    open_invocation(tmp_path)
    runs = close_invocation(tmp_path, 30.0, finished=True)
    assert [r["wall_s"] for r in runs] == [12.5, 30.0] and [r["interrupted"] for r in runs] == [True, False]
    assert sum(r["wall_s"] for r in runs) == 42.5


def test_each_invocation_records_the_code_it_ran(tmp_path):
    """skmd's version and the git commit of the checkout it runs from (the test runs in one)."""
    import subprocess
    from pathlib import Path

    import skmd
    from skmd.al.invocations import invocations, open_invocation
    open_invocation(tmp_path)
    entry = invocations(tmp_path)[-1]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(skmd.__file__).parent, capture_output=True,
                          text=True).stdout.strip()
    assert entry["skmd"] == skmd.__version__ and entry["commit"].split("-")[0] == head

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

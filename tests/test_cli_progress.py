"""The progress helper other commands reuse: it yields every item, in order; off a terminal (a log file, a pipe)
it writes plain lines, so that a redirected training is never silent, and nothing at all when disabled."""

import fcabench.progress as progress
from fcabench.progress import progress_bar, track


def test_track_yields_every_item_and_prints_nothing_when_disabled(capsys):
    assert list(track(range(5), "counting", enabled=False)) == [0, 1, 2, 3, 4]
    assert list(track(iter("abc"), "letters", enabled=False)) == ["a", "b", "c"]  # no len(): total unknown
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_off_a_terminal_progress_is_plain_lines_with_steps_elapsed_and_remaining(capsys, monkeypatch):
    assert list(track(range(5), "counting")) == [0, 1, 2, 3, 4]
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == ["counting: started, 5 steps", "counting: 5/5 steps, 0m00s in all"]
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.0)  # a line at every step
    with progress_bar("fine-tune", total=4) as advance:
        advance.note("loss=0.5")
        advance.to(1)
        advance(3)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "fine-tune: started, 4 steps"
    assert lines[1] == "fine-tune: 1/4 steps, 0m00s elapsed, about 0m00s left (loss=0.5)"
    assert lines[-1] == "fine-tune: 4/4 steps, 0m00s in all (loss=0.5)"

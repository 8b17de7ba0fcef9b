"""The progress helper other commands reuse: it yields every item, in order; off a terminal (a log file, a pipe)
it writes plain lines, so that a redirected training is never silent, and nothing at all when disabled."""

import fcabench.progress as progress
from fcabench.progress import progress_bar


def test_a_disabled_bar_prints_nothing(capsys):
    with progress_bar("counting", total=5, enabled=False) as advance:
        for _ in range(5):
            advance()
        advance.note("loss=0.5")
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_off_a_terminal_progress_is_plain_lines_with_steps_elapsed_and_remaining(capsys, monkeypatch):
    with progress_bar("counting", total=5) as advance:
        for _ in range(5):
            advance()
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

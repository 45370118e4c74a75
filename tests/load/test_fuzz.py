"""A fixed-seed sample of the issue fuzzer in the normal suite (tests/load/fuzz_issues.py runs thousands)."""

import pytest
from fuzz_issues import run, run_case


def test_three_hundred_mutated_newsletters_give_only_user_errors(tmp_path):
    count, findings = run(300, seed=1, workdir=tmp_path)
    assert count == 300
    assert findings == []


def test_the_fuzzer_reports_what_it_is_looking_for(tmp_path, monkeypatch):
    """A crash in the build is a finding, not a pass: the harness itself can fail."""
    import fuzz_issues

    def broken_build(config, now=None):
        raise KeyError("a bug")

    monkeypatch.setattr(fuzz_issues, "build", broken_build)
    monkeypatch.setattr(fuzz_issues, "MUTATIONS", [("nothing", lambda root, rng: None)] * 3)
    finding = run_case(5, tmp_path)
    assert finding is not None and "KeyError" in finding


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="no FIFOs on this system")
def test_a_case_that_blocks_is_a_finding(tmp_path, monkeypatch):
    import time

    import fuzz_issues

    monkeypatch.setattr(fuzz_issues, "check_issues", lambda config: time.sleep(5))
    monkeypatch.setattr(fuzz_issues, "MUTATIONS", [("nothing", lambda root, rng: None)] * 3)
    finding = fuzz_issues.run_case(3, tmp_path, seconds=1)
    assert finding is not None and "Hang" in finding

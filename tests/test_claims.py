import numpy as np
import pytest

from gradviz.claims import ClaimFailed, claim


def test_a_true_claim_prints_itself_with_the_measurement(capsys):
    claim("the norm shrinks", np.float32(1e-3) < 1, "ratio 1e-03")
    assert capsys.readouterr().out == "✓ the norm shrinks (ratio 1e-03)\n"
    claim("no measurement needed", True)
    assert capsys.readouterr().out == "✓ no measurement needed\n"


def test_a_false_claim_raises_with_the_statement_and_the_measurement(capsys):
    with pytest.raises(ClaimFailed, match=r"claims that the norm grows.*\(ratio 0\.5\)"):
        claim("the norm grows", np.bool_(False), "ratio 0.5")
    assert capsys.readouterr().out == ""
    assert issubclass(ClaimFailed, AssertionError)


def test_claims_need_words_and_one_truth_value():
    with pytest.raises(ValueError, match="reduce it with np.all"):
        claim("all positive", np.array([True, False]))
    with pytest.raises(ValueError, match="the claim in words"):
        claim("  ", True)

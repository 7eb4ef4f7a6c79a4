"""The embedded corpora (harness, not graded): exact probabilities and entropies."""

import math

import numpy as np
import pytest

from scratch.data import corpora

# A grammar small enough to enumerate by hand:
#   "a c ."  : 0.5 * 0.25 = 0.125    (3 words, 6 characters with the newline)
#   "a d d .": 0.5 * 0.75 = 0.375    (4 words, 8 characters)
#   "b ."    : 0.5                   (2 words, 4 characters)
TINY = {"S": [(0.5, ("a", "X", ".")), (0.5, ("b", "."))], "X": [(0.25, ("c",)), (0.75, ("d", "d"))]}
TINY_PROBS = {("a", "c", "."): 0.125, ("a", "d", "d", "."): 0.375, ("b", "."): 0.5}


class TestToyEnglishExact:
    def test_tiny_grammar_entropies_by_hand(self):
        g = corpora.ToyEnglish(TINY)
        h = -sum(p * math.log(p) for p in TINY_PROBS.values())
        assert g.entropy_per_sentence == pytest.approx(h, abs=1e-12)
        assert g.mean_words_per_sentence == pytest.approx(2.875)
        assert g.mean_chars_per_sentence == pytest.approx(5.75)
        assert g.entropy_per_token == pytest.approx(h / 3.875)
        assert g.entropy_per_char == pytest.approx(h / 5.75)

    def test_tiny_grammar_sentence_logprob(self):
        g = corpora.ToyEnglish(TINY)
        for sentence, p in TINY_PROBS.items():
            assert g.sentence_logprob(list(sentence)) == pytest.approx(math.log(p), abs=1e-12)
        assert g.sentence_logprob(["a", "d", "."]) == -math.inf
        assert g.sentence_logprob([]) == -math.inf

    def test_ambiguous_grammar_sums_derivations(self):
        g = corpora.ToyEnglish({"S": [(0.5, ("A", "b")), (0.5, ("a", "B"))], "A": [(1.0, ("a",))], "B": [(1.0, ("b",))]})
        assert g.sentence_logprob(["a", "b"]) == pytest.approx(0.0, abs=1e-12)
        assert not g.check_unambiguous(20)

    def test_sample_frequencies_match_probabilities(self):
        sentences = corpora.ToyEnglish(TINY).sample(20_000, np.random.default_rng(1))
        for sentence, p in TINY_PROBS.items():
            freq = np.mean([tuple(s) == sentence for s in sentences])
            assert abs(freq - p) < 4 * math.sqrt(p * (1 - p) / 20_000)

    def test_default_grammar_is_unambiguous(self):
        assert corpora.ToyEnglish().check_unambiguous(150, np.random.default_rng(2))

    def test_default_entropy_matches_monte_carlo(self):
        g = corpora.ToyEnglish()
        _, logprobs = g.sample_with_logprob(20_000, np.random.default_rng(3))
        stderr = logprobs.std() / math.sqrt(len(logprobs))
        assert abs(-logprobs.mean() - g.entropy_per_sentence) < 4 * stderr
        # Character entropy is far below a character bigram's (words are spelled deterministically).
        assert g.entropy_per_char < 0.5 * g.entropy_per_token

    def test_lecture_sentence(self):
        g = corpora.ToyEnglish()
        assert g.sentence_logprob("the mouse eats the cheese .".split()) > -math.inf
        assert g.sentence_logprob("the mouse eats the cat .".split()) == -math.inf  # object class
        assert g.sentence_logprob("the mice eats the cheese .".split()) == -math.inf  # agreement

    def test_sample_is_deterministic_and_well_formed(self):
        g = corpora.ToyEnglish()
        a, b = g.corpus(50, seed=7), g.corpus(50, seed=7)
        assert a == b and a != g.corpus(50, seed=8)
        assert all(s[-1] == "." and "." not in s[:-1] for s in a)
        assert set(w for s in a for w in s) <= set(g.words)

    def test_bad_input(self):
        with pytest.raises(TypeError, match="rng"):
            corpora.ToyEnglish().sample(3, rng=0)
        with pytest.raises(ValueError, match="n_sentences"):
            corpora.ToyEnglish().sample(-1, np.random.default_rng(0))
        with pytest.raises(ValueError, match="sum to 1"):
            corpora.ToyEnglish({"S": [(0.5, ("a",))]})
        with pytest.raises(ValueError, match="recursive"):
            corpora.ToyEnglish({"S": [(0.5, ("a",)), (0.5, ("a", "S"))]})


class TestCharacterEntropy:
    def test_char_bigram_is_far_above_the_true_char_entropy(self):
        # Plug-in H(c_t | c_{t-1}) on a sample: spelling and word order leave a lot a
        # character bigram cannot see, so a char-level model has room to beat it.
        g = corpora.ToyEnglish()
        vocab = g.char_vocab()
        ids = corpora.char_ids(corpora.to_text(g.corpus(5000, seed=9)), vocab)
        _, pair_counts = np.unique(ids[:-1] * len(vocab) + ids[1:], return_counts=True)
        _, first_counts = np.unique(ids[:-1], return_counts=True)
        entropy = lambda c: -(c / c.sum() * np.log(c / c.sum())).sum()  # noqa: E731
        conditional = entropy(pair_counts) - entropy(first_counts)
        assert conditional > 3 * g.entropy_per_char


class TestViews:
    def test_text_round_trip(self):
        sentences = corpora.ToyEnglish().corpus(30, seed=0)
        text = corpora.to_text(sentences)
        assert text.count("\n") == 30 and text.endswith(".\n")
        assert corpora.from_text(text) == sentences
        assert corpora.to_text([["the", "mouse", "."]]) == "the mouse .\n"

    def test_char_ids_round_trip(self):
        g = corpora.ToyEnglish()
        vocab = g.char_vocab()
        text = corpora.to_text(g.corpus(30, seed=0))
        ids = corpora.char_ids(text, vocab)
        assert ids.dtype == np.int64 and ids.shape == (len(text),)
        assert ids.min() >= 0 and ids.max() < len(vocab)
        assert vocab.decode(ids) == text
        assert vocab.chars == sorted(vocab.chars)
        with pytest.raises(ValueError, match="not in the vocabulary"):
            vocab.encode("THE")

    def test_splits(self):
        train, val, test = corpora.train_val_test_split(list(range(100)), (0.8, 0.1, 0.1))
        assert (len(train), len(val), len(test)) == (80, 10, 10)
        assert train + val + test == list(range(100))
        with pytest.raises(ValueError, match="fractions"):
            corpora.train_val_test_split([1, 2], (0.5, 0.6, 0.1))


class TestMarkovLanguage:
    def test_order1_entropy_rate_by_eigenvector(self):
        m = corpora.MarkovLanguage(1, 5, seed=4)
        P = m.transitions
        np.testing.assert_allclose(P.sum(axis=1), 1.0)
        w, vecs = np.linalg.eig(P.T)
        pi = np.real(vecs[:, np.argmin(np.abs(w - 1))])
        pi /= pi.sum()
        np.testing.assert_allclose(m.stationary, pi, atol=1e-10)
        assert m.entropy_rate == pytest.approx(-(pi[:, None] * P * np.log(P)).sum(), abs=1e-10)

    def test_two_state_chain_by_hand(self):
        m = corpora.MarkovLanguage(1, 2, seed=0)
        (p00, p01), (p10, p11) = m.transitions
        pi0 = p10 / (p01 + p10)  # balance: pi0 p01 = pi1 p10
        h = lambda q: -(q * math.log(q) + (1 - q) * math.log(1 - q))  # noqa: E731
        assert m.entropy_rate == pytest.approx(pi0 * h(p01) + (1 - pi0) * h(p10), abs=1e-10)

    @pytest.mark.parametrize("order", [1, 2])
    def test_sample_log_loss_matches_entropy_rate(self, order):
        m = corpora.MarkovLanguage(order, 6, seed=5)
        ids = m.sample(100_000, np.random.default_rng(6))
        assert ids.shape == (100_000,) and ids.min() >= 0 and ids.max() < 6
        per_token = -m.logprob(ids) / (len(ids) - order)
        assert abs(per_token - m.entropy_rate) < 0.02
        assert m.to_words(ids[:3]) == [m.symbols[i] for i in ids[:3]]

    def test_bad_input(self):
        with pytest.raises(ValueError, match="order"):
            corpora.MarkovLanguage(0, 5)
        with pytest.raises(ValueError, match="vocab_size"):
            corpora.MarkovLanguage(1, 1)
        with pytest.raises(TypeError, match="rng"):
            corpora.MarkovLanguage(1, 3).sample(10, rng=None)
        with pytest.raises(ValueError, match="ids"):
            corpora.MarkovLanguage(2, 3).logprob([0, 1])  # an order-2 chain scores from the 3rd id
        with pytest.raises(ValueError, match="ids"):
            corpora.MarkovLanguage(1, 3).logprob([0, 3])

    def test_table_size_guard(self):
        # The transition table has V ** (k + 1) entries: 1024 ** 3 float64 would be 8 GiB.
        # The guard must fire before any allocation (this test would otherwise run out of memory).
        with pytest.raises(ValueError, match=r"vocab_size \*\* \(order \+ 1\)"):
            corpora.MarkovLanguage(2, 1024)
        with pytest.raises(ValueError, match=r"vocab_size \*\* \(order \+ 1\)"):
            corpora.MarkovLanguage(1, 8192)

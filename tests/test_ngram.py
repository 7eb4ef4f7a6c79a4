"""n-gram language models: hand-computed probabilities, sums to one, known entropies.

The tiny corpus below (three sentences, no final ".") is used for every hand computation.
Its vocabulary, by decreasing count then alphabetically: the 4, ate 3, mouse 3, a 1, cat 1,
cheese 1, so ids are <unk> 0, <s> 1, </s> 2, the 3, ate 4, mouse 5, a 6, cat 7, cheese 8:
V = 9 ids and V' = 8 outcomes (all but <s>). There are 5 + 5 + 3 words and 3 </s>, so 16
predicted tokens. Bigram facts used below (after padding with one <s>):
  "the" is followed by mouse, cheese, cat, mouse        c(the) = 4, N1+(the .) = 3
  "mouse" is followed by ate, </s>, ate                 c(mouse) = 3
  "ate" is followed by the, the, </s>                   c(ate) = 3
  "<s>" is followed by the, the, a                      c(<s>) = 3
"""

import math
import warnings

import numpy as np
import pytest

from scratch import data

TINY = [s.split() for s in ("the mouse ate the cheese", "the cat ate the mouse", "a mouse ate")]
LECTURE = "the mouse ate the cheese".split()


def fit(impl, n, smoothing="mle", sentences=TINY, **kwargs):
    return impl.ngram.NGramLM(n, smoothing, **kwargs).fit(sentences)


@pytest.fixture(scope="module")
def toy_english():
    """Train / held-out / test sentences from the toy-English grammar and the grammar itself."""
    grammar = data.ToyEnglish()
    train, heldout, test = data.train_val_test_split(grammar.corpus(9000, seed=11), (6 / 9, 1 / 9, 2 / 9))
    return grammar, train, heldout, test


class TestVocab:
    def test_ids_and_cutoff(self, impl):
        vocab = impl.ngram.Vocab(TINY)
        assert vocab.words == ["<unk>", "<s>", "</s>", "the", "ate", "mouse", "a", "cat", "cheese"]
        assert (vocab.unk_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2)
        assert vocab.encode(["the", "dog", "cheese"]).tolist() == [3, 0, 8]
        assert vocab.decode([3, 5]) == ["the", "mouse"]
        cut = impl.ngram.Vocab(TINY, min_count=2)
        assert cut.words == ["<unk>", "<s>", "</s>", "the", "ate", "mouse"]
        assert cut.encode(["cat"]).tolist() == [0]


class TestCounting:
    """ngram_windows / count_ngrams"""

    @pytest.mark.points(1)
    def test_windows_stay_inside_sentences(self, impl):
        # Two padded sentences for a trigram: <s> <s> 3 4 </s> | <s> <s> 5 </s>.
        stream = np.array([1, 1, 3, 4, 2, 1, 1, 5, 2])
        windows = impl.ngram.ngram_windows(stream, 3, bos_id=1)
        assert windows.tolist() == [[1, 1, 3], [1, 3, 4], [3, 4, 2], [1, 1, 5], [1, 5, 2]]
        assert impl.ngram.ngram_windows(stream, 1, bos_id=1).tolist() == [[3], [4], [2], [5], [2]]

    @pytest.mark.points(1)
    def test_counts_of_tiny_corpus(self, impl):
        ng = impl.ngram
        vocab = ng.Vocab(TINY)
        stream = ng.pad_corpus(TINY, vocab, 2)
        keys, counts = ng.count_ngrams(stream, 2, len(vocab), vocab.bos_id)
        table = dict(zip(keys.tolist(), counts.tolist()))
        key = lambda a, b: ng.encode_keys([[vocab.index[a], vocab.index[b]]], len(vocab))[0]  # noqa: E731
        assert table[key("the", "mouse")] == 2 and table[key("<s>", "the")] == 2
        assert table[key("mouse", "</s>")] == 1 and key("cheese", "ate") not in table
        assert sum(counts) == 16 and len(keys) == 12 and np.all(np.diff(keys) > 0)
        keys1, counts1 = ng.count_ngrams(stream, 1, len(vocab), vocab.bos_id)
        assert dict(zip(vocab.decode(keys1), counts1.tolist())) == {
            "</s>": 3, "the": 4, "ate": 3, "mouse": 3, "a": 1, "cat": 1, "cheese": 1}


class TestMLE:
    """mle_probs_by_order (maximum likelihood: count and divide)"""

    @pytest.mark.points(1)
    def test_hand_computed_probabilities(self, impl):
        bigram = fit(impl, 2)
        assert bigram.prob("mouse", ["the"]) == pytest.approx(2 / 4)
        assert bigram.prob("ate", ["mouse"]) == pytest.approx(2 / 3)
        assert bigram.prob("</s>", ["mouse"]) == pytest.approx(1 / 3)
        assert bigram.prob("the") == pytest.approx(2 / 3)  # context <s>
        assert bigram.prob("cat", ["mouse"]) == 0.0
        unigram = fit(impl, 1)
        assert unigram.prob("the") == pytest.approx(4 / 16)
        assert unigram.prob("</s>", ["the"]) == pytest.approx(3 / 16)

    @pytest.mark.points(1)
    def test_unseen_context_backs_off_to_lower_order(self, impl):
        # Trigram context (cheese, the) never occurs: the bigram MLE p(mouse | the) = 2/4 is used.
        assert fit(impl, 3).prob("mouse", ["cheese", "the"]) == pytest.approx(0.5)

    @pytest.mark.points(1)
    def test_chain_rule_on_lecture_sentence(self, impl):
        # p(the|<s>) p(mouse|the) p(ate|mouse) p(the|ate) p(cheese|the) p(</s>|cheese)
        # = 2/3 * 1/2 * 2/3 * 2/3 * 1/4 * 1 = 1/27
        bigram = fit(impl, 2)
        assert bigram.logprob(LECTURE) == pytest.approx(math.log(1 / 27))
        trigram = fit(impl, 3, "kneser_ney")
        words = LECTURE + ["</s>"]
        chain = sum(math.log(trigram.prob(w, LECTURE[:i])) for i, w in enumerate(words))
        assert trigram.logprob(LECTURE) == pytest.approx(chain, abs=1e-12)

    @pytest.mark.points(1)
    def test_unigram_treats_tokens_as_independent(self, impl):
        unigram = fit(impl, 1)
        assert unigram.prob("mouse", ["the"]) == unigram.prob("mouse", ["a", "cat"]) == pytest.approx(3 / 16)
        shuffled = ["cheese", "the", "ate", "mouse", "the"]
        assert unigram.logprob(shuffled) == pytest.approx(unigram.logprob(LECTURE))
        expected = math.log(4 / 16) * 2 + math.log(3 / 16) * 3 + math.log(1 / 16)
        assert unigram.logprob(LECTURE) == pytest.approx(expected)


class TestAddK:
    """add_k_probs (Laplace when k = 1)"""

    @pytest.mark.points(1)
    def test_hand_computed_probabilities(self, impl):
        laplace = fit(impl, 2, "add_k", k=1.0)
        assert laplace.prob("mouse", ["the"]) == pytest.approx((2 + 1) / (4 + 8))
        assert laplace.prob("cat", ["mouse"]) == pytest.approx(1 / (3 + 8))
        assert laplace.prob("the", ["dog"]) == pytest.approx(1 / 8)  # unseen context: uniform
        assert laplace.prob("<s>", ["the"]) == 0.0  # <s> is never predicted
        half = fit(impl, 2, "add_k", k=0.5)
        assert half.prob("mouse", ["the"]) == pytest.approx(2.5 / (4 + 4))


class TestInterpolation:
    """interpolated_probs / fit_interpolation_weights"""

    @pytest.mark.points(1)
    def test_hand_computed_probability(self, impl):
        lm = fit(impl, 2, "interpolation", weights=[0.1, 0.2, 0.7])
        # 0.1 * uniform 1/8 + 0.2 * unigram 3/16 + 0.7 * bigram 2/4
        assert lm.prob("mouse", ["the"]) == pytest.approx(0.1 / 8 + 0.2 * 3 / 16 + 0.7 * 0.5)
        assert lm.prob("dog", ["the"]) == pytest.approx(0.1 / 8)  # <unk>: only the uniform term

    @pytest.mark.points(1)
    def test_em_on_one_hot_columns(self, impl):
        # Each token is explained by one column only: the weights are the column frequencies.
        q = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
        np.testing.assert_allclose(impl.ngram.fit_interpolation_weights(q), [0.75, 0.25], atol=1e-6)

    @pytest.mark.points(2)
    def test_em_reaches_the_likelihood_optimum(self, impl):
        # At an interior optimum of sum_t log(q_t . w) on the simplex, the gradient
        # sum_t q_tk / (q_t . w) equals N for every k (Lagrange condition).
        q = np.random.default_rng(0).random((500, 3)) ** 3
        weights = impl.ngram.fit_interpolation_weights(q, tol=1e-12)
        assert weights.sum() == pytest.approx(1.0) and (weights > 0.01).all()
        gradient = (q / (q @ weights)[:, None]).sum(axis=0)
        np.testing.assert_allclose(gradient, 500, rtol=1e-5)

    @pytest.mark.points(1)
    def test_weights_tuned_on_heldout_favour_high_orders(self, impl, toy_english):
        _, train, heldout, _ = toy_english
        lm = impl.ngram.NGramLM(3, "interpolation").fit(train, heldout=heldout)
        assert lm.weights.sum() == pytest.approx(1.0) and lm.weights[3] > 0.5


class TestKneserNey:
    """continuation_counts / kneser_ney_probs (interpolated, one discount)"""

    @pytest.mark.points(1)
    def test_continuation_counts(self, impl):
        lm = fit(impl, 2, "kneser_ney")
        unigram = lm.kn_tables[1]
        cont = dict(zip(lm.vocab.decode(unigram.keys), unigram.counts.tolist()))
        # distinct left neighbours: </s> after cheese, mouse, ate; mouse after the, a; ...
        assert cont == {"</s>": 3, "the": 2, "ate": 2, "mouse": 2, "a": 1, "cat": 1, "cheese": 1}

    @pytest.mark.points(2)
    def test_hand_computed_probabilities(self, impl):
        lm = fit(impl, 2, "kneser_ney", discount=0.75)
        # Unigram level: N1+(. .) = 12 bigram types, 7 distinct continued words, V' = 8:
        #   p1(mouse) = (2 - 0.75 + 0.75 * 7 / 8) / 12 = 1.90625 / 12
        #   p1(dog)   = p1(<unk>) = (0.75 * 7 / 8) / 12 = 0.0546875
        p1_mouse, p1_unk = 1.90625 / 12, 0.0546875
        # Bigram level for context "the": c = 4, N1+(the .) = 3.
        assert lm.prob("mouse", ["the"]) == pytest.approx((2 - 0.75 + 0.75 * 3 * p1_mouse) / 4)
        assert lm.prob("dog", ["the"]) == pytest.approx(0.75 * 3 * p1_unk / 4)
        assert lm.prob("mouse", ["dog"]) == pytest.approx(p1_mouse)  # unseen context
        # Trigram: p(mouse | ate the) with D = 0.75, three levels:
        # 1. unigram: as above (12 bigram types), p1 = 1.90625 / 12.
        # 2. bigram, context "the", with continuation counts N1+(. the w) over the trigram
        #    types: "the mouse" follows <s> and ate (2), "the cheese" ate (1), "the cat" <s> (1),
        #    so the total is 4 and N1+(the .) = 3: p2 = (2 - 0.75 + 0.75 * 3 * p1) / 4.
        # 3. trigram, context (ate, the), raw counts: cheese 1, mouse 1, total 2, 2 followers:
        #    p3 = (1 - 0.75 + 0.75 * 2 * p2) / 2 = 0.4263916015625.
        # (Continuation counts keyed by the last id only, whatever the order, miss level 2.)
        trigram = fit(impl, 3, "kneser_ney", discount=0.75)
        p2 = (1.25 + 2.25 * p1_mouse) / 4
        p3 = (0.25 + 1.5 * p2) / 2
        assert p3 == pytest.approx(0.4263916015625, abs=1e-15)
        assert trigram.prob("mouse", ["ate", "the"]) == pytest.approx(p3, abs=1e-12)


class TestScoring:
    """token_logprobs / perplexity (n-1 <s>, one </s> predicted and counted)"""

    @pytest.mark.points(1)
    def test_perplexity_convention_by_hand(self, impl):
        bigram = fit(impl, 2)
        # The lecture sentence has p = 1/27 over 6 predicted tokens (5 words and </s>).
        assert bigram.perplexity([LECTURE]) == pytest.approx(27 ** (1 / 6))
        assert bigram.token_logprobs([LECTURE, ["a", "mouse", "ate"]]).shape == (10,)

    @pytest.mark.points(1)
    def test_mle_unseen_event_gives_inf_with_a_warning(self, impl):
        bigram = fit(impl, 2)
        with pytest.warns(RuntimeWarning, match="probability 0"):
            assert bigram.perplexity([["the", "cat", "ate", "the", "cat", "cheese"]]) == math.inf
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no NaN or divide warnings leak out
            assert bigram.logprob(["cheese", "cat"]) == -math.inf

    @pytest.mark.points(1)
    @pytest.mark.parametrize("smoothing,kwargs", [
        ("mle", {}), ("add_k", {"k": 0.5}), ("interpolation", {"weights": [0.1, 0.2, 0.3, 0.4]}),
        ("kneser_ney", {})])
    def test_next_token_probs_sum_to_one(self, impl, smoothing, kwargs):
        lm = fit(impl, 3, smoothing, **kwargs)
        for context in ([], ["the"], ["the", "mouse"], ["cat", "cheese"], ["dog", "zebra"]):
            probs = lm.next_token_probs(context)
            assert probs.shape == (9,) and (probs >= 0).all()
            assert probs.sum() == pytest.approx(1.0, abs=1e-12) and probs[1] == 0.0

    @pytest.mark.points(2)
    def test_bigram_mle_reaches_markov_entropy_rate(self, impl):
        source = data.MarkovLanguage(1, 8, seed=3)
        ids = source.sample(120_000, np.random.default_rng(4))
        words = source.to_words(ids)
        lm = impl.ngram.NGramLM(2, "mle").fit([words[:100_000]])
        # One long held-out "sentence"; drop its first token (after <s>) and the </s>.
        nll = -lm.token_logprobs([words[100_000:]])[1:-1].mean()
        assert abs(nll - source.entropy_rate) < 0.02

    @pytest.mark.points(2)
    def test_toy_english_perplexity_ordering(self, impl, toy_english):
        grammar, train, _, test = toy_english
        ppl = [impl.ngram.NGramLM(n, "kneser_ney").fit(train).perplexity(test) for n in (1, 2, 3)]
        true_ppl = math.exp(grammar.entropy_per_token)
        assert ppl[0] > ppl[1] > ppl[2] > true_ppl * 1.05
        assert ppl[1] - ppl[2] > 0.3  # the verb-object dependency a bigram cannot see


class TestSampling:
    """sample (token by token with an explicit rng)"""

    @pytest.mark.points(1)
    def test_deterministic_bigram_chain(self, impl):
        # Only "x y z" is ever seen: every conditional is 0 or 1.
        lm = impl.ngram.NGramLM(2, "mle").fit([["x", "y", "z"]])
        assert lm.sample(np.random.default_rng(0)) == ["x", "y", "z"]
        assert lm.sample(np.random.default_rng(0), max_len=2) == ["x", "y"]
        assert lm.sample(np.random.default_rng(0), context=["y"]) == ["z"]

    @pytest.mark.points(1)
    def test_first_word_frequencies(self, impl):
        lm = fit(impl, 2)
        rng = np.random.default_rng(5)
        firsts = [lm.sample(rng, max_len=1)[0] for _ in range(600)]
        # p(the | <s>) = 2/3: the count is Binomial(600, 2/3), sd 11.5.
        assert abs(firsts.count("the") - 400) < 4 * 11.5
        assert set(firsts) == {"the", "a"}


class TestDecodingProtocol:
    """decoding protocol: start / step give log next_token_probs as logits (given code, built on the above)"""

    @pytest.mark.points(1)
    def test_logits_match_probabilities_and_state_is_immutable(self, impl):
        lm = fit(impl, 3)
        vocab = lm.vocab
        logits, state = lm.start(vocab.encode(["the"]))
        np.testing.assert_allclose(np.exp(logits), lm.next_token_probs(["the"]))
        assert logits[vocab.index["cat"]] == pytest.approx(math.log(1 / 2))  # (<s>, the) -> cat
        assert logits[vocab.index["ate"]] == -math.inf  # MLE zero
        before = state
        logits2, state2 = lm.step(state, vocab.index["mouse"])
        assert state == before
        np.testing.assert_allclose(np.exp(logits2), lm.next_token_probs(["the", "mouse"]))
        assert logits2[vocab.index["ate"]] == pytest.approx(math.log(1 / 2))  # ate or </s>
        # Ids outside 0..V-1 (V = 9) are errors, never another context's distribution.
        for bad in (9, 12, -1):
            with pytest.raises(ValueError, match="context"):
                lm.next_token_probs([0, bad])
            with pytest.raises(ValueError, match="prompt_ids"):
                lm.start([bad])
            with pytest.raises(ValueError, match="token_id"):
                lm.step(state, bad)


class TestBadInput:
    def test_constructor_arguments(self, impl):
        ng = impl.ngram
        for bad in (0, -1, 2.5):
            with pytest.raises(ValueError, match="n must"):
                ng.NGramLM(bad)
        for bad in (0, -0.5):
            with pytest.raises(ValueError, match="k must"):
                ng.NGramLM(2, "add_k", k=bad)
        for bad in (0.0, 1.0, 1.5):
            with pytest.raises(ValueError, match="discount"):
                ng.NGramLM(2, "kneser_ney", discount=bad)
        with pytest.raises(ValueError, match="smoothing"):
            ng.NGramLM(2, "witten_bell")
        with pytest.raises(ValueError, match="weights"):
            ng.NGramLM(2, "interpolation", weights=[0.5, 0.5])
        for bad in ([math.nan, 0.5, 0.5], [math.inf, 0.5, 0.5], [-0.5, 0.5, 1.0]):
            with pytest.raises(ValueError, match="weights"):
                ng.NGramLM(2, "interpolation", weights=bad)
        for bad in (math.inf, math.nan):
            with pytest.raises(ValueError, match="k must"):
                ng.NGramLM(2, "add_k", k=bad)

    def test_corpus_arguments(self, impl):
        ng = impl.ngram
        with pytest.raises(ValueError, match="sentences"):
            ng.NGramLM(2).fit([])
        with pytest.raises(TypeError, match="strings"):
            ng.NGramLM(2).fit([["the", 3]])
        with pytest.raises(TypeError, match="strings"):
            ng.NGramLM(2).fit(["the mouse"])
        with pytest.raises(ValueError, match="interpolation needs"):
            ng.NGramLM(2, "interpolation").fit(TINY)
        with pytest.raises(ValueError, match="added by the model"):
            ng.Vocab([["the", "</s>"]])
        with pytest.raises(ValueError, match="min_count"):
            ng.Vocab(TINY, min_count=0)
        with pytest.raises(ValueError, match="not fitted"):
            ng.NGramLM(2).prob("the")
        with pytest.raises(TypeError, match="sentences"):
            ng.Vocab([["the", ["mouse"]]])  # an unhashable token

    def test_sample_arguments(self, impl):
        with pytest.raises(ValueError, match="max_len"):
            impl.ngram.NGramLM(2).sample(np.random.default_rng(0), max_len=-1)
        with pytest.raises(TypeError, match="max_len"):
            impl.ngram.NGramLM(2).sample(np.random.default_rng(0), max_len=2.5)

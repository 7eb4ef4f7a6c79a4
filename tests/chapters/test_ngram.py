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

from checks import TINY, assert_close, assert_equal, assert_same, assert_scalar, check_array, check_scalar
from scratch.data import corpora

LECTURE = "the mouse ate the cheese".split()


def fit(impl, n, smoothing="mle", sentences=TINY, **kwargs):
    return impl.ngram.NGramLM(n, smoothing, **kwargs).fit(sentences)


@pytest.fixture(scope="module")
def toy_english():
    """Train / held-out / test sentences from the toy-English grammar and the grammar itself."""
    grammar = corpora.ToyEnglish()
    train, heldout, test = corpora.train_val_test_split(grammar.corpus(9000, seed=11), (6 / 9, 1 / 9, 2 / 9))
    return grammar, train, heldout, test


class TestCounting:
    """ngram_windows / count_ngrams"""

    @pytest.mark.points(1)
    def test_windows_stay_inside_sentences(self, impl):
        # Two padded sentences for a trigram: <s> <s> 3 4 </s> | <s> <s> 5 </s>.
        stream = np.array([1, 1, 3, 4, 2, 1, 1, 5, 2])
        windows = impl.ngram.ngram_windows(stream, 3, bos_id=1)
        assert_equal(windows, [[1, 1, 3], [1, 3, 4], [3, 4, 2], [1, 1, 5], [1, 5, 2]])
        assert_equal(impl.ngram.ngram_windows(stream, 1, bos_id=1), [[3], [4], [2], [5], [2]])

    @pytest.mark.points(1)
    def test_counts_of_tiny_corpus(self, impl):
        ng = impl.ngram
        vocab = ng.Vocab(TINY)
        stream = ng.pad_corpus(TINY, vocab, 2)
        keys, counts = ng.count_ngrams(stream, 2, len(vocab), vocab.bos_id)
        check_array(keys, "i", (12,), "keys")
        check_array(counts, "i", (12,), "counts")
        table = dict(zip(keys.tolist(), counts.tolist()))
        key = lambda a, b: ng.encode_keys([[vocab.index[a], vocab.index[b]]], len(vocab))[0]  # noqa: E731
        assert table[key("the", "mouse")] == 2 and table[key("<s>", "the")] == 2
        assert table[key("mouse", "</s>")] == 1 and key("cheese", "ate") not in table
        assert sum(counts) == 16 and len(keys) == 12 and np.all(np.diff(keys) > 0)
        keys1, counts1 = ng.count_ngrams(stream, 1, len(vocab), vocab.bos_id)
        check_array(keys1, "i", (7,), "keys")
        check_array(counts1, "i", (7,), "counts")
        assert_same(dict(zip(vocab.decode(keys1), counts1.tolist())), {
            "</s>": 3, "the": 4, "ate": 3, "mouse": 3, "a": 1, "cat": 1, "cheese": 1})


def assert_distributions_over_next_token(impl, smoothing, **kwargs):
    """Every context's next-token probabilities (given code over the smoothing's own
    probabilities) are a distribution over V = 9 with p(<s>) = 0: graded in each smoothing's
    question, since that is the code it checks."""
    lm = fit(impl, 3, smoothing, **kwargs)
    for context in ([], ["the"], ["the", "mouse"], ["cat", "cheese"], ["dog", "zebra"]):
        probs = lm.next_token_probs(context)
        check_array(probs, "f", (9,), f"next_token_probs({context})")
        assert (probs >= 0).all()
        assert_scalar(probs.sum(), 1.0, abs=1e-12)
        assert_scalar(probs[1], 0.0, abs=0.0)


class TestMLE:
    """mle_probs_by_order (maximum likelihood: count and divide)"""

    @pytest.mark.points(1)
    def test_hand_computed_probabilities(self, impl):
        bigram = fit(impl, 2)
        assert_scalar(bigram.prob("mouse", ["the"]), 2 / 4)
        assert_scalar(bigram.prob("ate", ["mouse"]), 2 / 3)
        assert_scalar(bigram.prob("</s>", ["mouse"]), 1 / 3)
        assert_scalar(bigram.prob("the"), 2 / 3)  # context <s>
        assert_scalar(bigram.prob("cat", ["mouse"]), 0.0, abs=0.0)
        unigram = fit(impl, 1)
        assert_scalar(unigram.prob("the"), 4 / 16)
        assert_scalar(unigram.prob("</s>", ["the"]), 3 / 16)

    @pytest.mark.points(1)
    def test_unseen_context_backs_off_to_lower_order(self, impl):
        # Trigram context (cheese, the) never occurs: the bigram MLE p(mouse | the) = 2/4 is used,
        # and p(cat | the) = 1/4 (two values, so that a constant 1/2 is not right by chance).
        trigram = fit(impl, 3)
        assert_scalar(trigram.prob("mouse", ["cheese", "the"]), 0.5)
        assert_scalar(trigram.prob("cat", ["cheese", "the"]), 0.25)

    @pytest.mark.points(1)
    def test_chain_rule_on_lecture_sentence(self, impl):
        # p(the|<s>) p(mouse|the) p(ate|mouse) p(the|ate) p(cheese|the) p(</s>|cheese)
        # = 2/3 * 1/2 * 2/3 * 2/3 * 1/4 * 1 = 1/27
        bigram = fit(impl, 2)
        assert_scalar(bigram.logprob(LECTURE), math.log(1 / 27))
        trigram = fit(impl, 3, "kneser_ney")
        words = LECTURE + ["</s>"]
        chain = sum(math.log(trigram.prob(w, LECTURE[:i])) for i, w in enumerate(words))
        assert_scalar(trigram.logprob(LECTURE), chain, abs=1e-12)

    @pytest.mark.points(1)
    def test_unigram_treats_tokens_as_independent(self, impl):
        unigram = fit(impl, 1)
        assert_scalar(unigram.prob("mouse", ["the"]), 3 / 16)
        assert_scalar(unigram.prob("mouse", ["a", "cat"]), unigram.prob("mouse", ["the"]), abs=0.0)
        expected = math.log(4 / 16) * 2 + math.log(3 / 16) * 3 + math.log(1 / 16)
        shuffled = ["cheese", "the", "ate", "mouse", "the"]
        assert_scalar(unigram.logprob(shuffled), expected)
        assert_scalar(unigram.logprob(LECTURE), expected)

    @pytest.mark.points(1)
    def test_next_token_probs_are_a_distribution(self, impl):
        assert_distributions_over_next_token(impl, "mle")


class TestAddK:
    """add_k_probs (Laplace when k = 1)"""

    @pytest.mark.points(1)
    def test_hand_computed_probabilities(self, impl):
        laplace = fit(impl, 2, "add_k", k=1.0)
        assert_scalar(laplace.prob("mouse", ["the"]), (2 + 1) / (4 + 8))
        assert_scalar(laplace.prob("cat", ["mouse"]), 1 / (3 + 8))
        assert_scalar(laplace.prob("the", ["dog"]), 1 / 8)  # unseen context: uniform
        assert_scalar(laplace.prob("<s>", ["the"]), 0.0, abs=0.0)  # <s> is never predicted
        half = fit(impl, 2, "add_k", k=0.5)
        assert_scalar(half.prob("mouse", ["the"]), 2.5 / (4 + 4))

    @pytest.mark.points(1)
    def test_next_token_probs_are_a_distribution(self, impl):
        assert_distributions_over_next_token(impl, "add_k", k=0.5)


class TestInterpolation:
    """interpolated_probs / fit_interpolation_weights"""

    @pytest.mark.points(1)
    def test_hand_computed_probability(self, impl):
        lm = fit(impl, 2, "interpolation", weights=[0.1, 0.2, 0.7])
        # 0.1 * uniform 1/8 + 0.2 * unigram 3/16 + 0.7 * bigram 2/4
        assert_scalar(lm.prob("mouse", ["the"]), 0.1 / 8 + 0.2 * 3 / 16 + 0.7 * 0.5)
        assert_scalar(lm.prob("dog", ["the"]), 0.1 / 8)  # <unk>: only the uniform term

    @pytest.mark.points(1)
    def test_em_on_one_hot_columns(self, impl):
        # Each token is explained by one column only: the weights are the column frequencies.
        q = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
        assert_close(impl.ngram.fit_interpolation_weights(q), [0.75, 0.25], atol=1e-6)

    @pytest.mark.points(2)
    def test_em_reaches_the_likelihood_optimum(self, impl):
        # At an interior optimum of sum_t log(q_t . w) on the simplex, the gradient
        # sum_t q_tk / (q_t . w) equals N for every k (Lagrange condition).
        q = np.random.default_rng(0).random((500, 3)) ** 3
        weights = impl.ngram.fit_interpolation_weights(q, tol=1e-12)
        check_array(weights, "f", (3,), "weights")
        assert_scalar(weights.sum(), 1.0)
        assert (weights > 0.01).all()
        gradient = (q / (q @ weights)[:, None]).sum(axis=0)
        assert_close(gradient, 500.0, rtol=1e-5)

    @pytest.mark.points(1)
    def test_weights_tuned_on_heldout_favour_high_orders(self, impl, toy_english):
        _, train, heldout, _ = toy_english
        # first weights tuned on two tiny held-out sentences (the reference's numbers): cheap and
        # exact, so that wrong code fails in milliseconds, not after EM on 1000 sentences
        tiny = impl.ngram.NGramLM(2, "interpolation").fit(TINY, heldout=[["the", "cat", "ate", "a", "cheese"],
                                                                         ["mouse", "the"]])
        assert_close(tiny.weights, [0.24209784433995957, 0.484039399376183, 0.2738627562838574], atol=1e-6)
        lm = impl.ngram.NGramLM(3, "interpolation").fit(train, heldout=heldout)
        check_array(lm.weights, "f", (4,), "weights")
        assert_scalar(lm.weights.sum(), 1.0)
        assert lm.weights[3] > 0.5

    @pytest.mark.points(1)
    def test_next_token_probs_are_a_distribution(self, impl):
        assert_distributions_over_next_token(impl, "interpolation", weights=[0.1, 0.2, 0.3, 0.4])


class TestKneserNey:
    """continuation_counts / kneser_ney_probs (interpolated, one discount)"""

    @pytest.mark.points(1)
    def test_continuation_counts(self, impl):
        lm = fit(impl, 2, "kneser_ney")
        unigram = lm.kn_tables[1]
        check_array(unigram.keys, "i", (7,), "keys")
        check_array(unigram.counts, "i", (7,), "counts")
        cont = dict(zip(lm.vocab.decode(unigram.keys), unigram.counts.tolist()))
        # distinct left neighbours: </s> after cheese, mouse, ate; mouse after the, a; ...
        assert_same(cont, {"</s>": 3, "the": 2, "ate": 2, "mouse": 2, "a": 1, "cat": 1, "cheese": 1})

    @pytest.mark.points(2)
    def test_hand_computed_probabilities(self, impl):
        lm = fit(impl, 2, "kneser_ney", discount=0.75)
        # Unigram level: N1+(. .) = 12 bigram types, 7 distinct continued words, V' = 8:
        #   p1(mouse) = (2 - 0.75 + 0.75 * 7 / 8) / 12 = 1.90625 / 12
        #   p1(dog)   = p1(<unk>) = (0.75 * 7 / 8) / 12 = 0.0546875
        p1_mouse, p1_unk = 1.90625 / 12, 0.0546875
        # Bigram level for context "the": c = 4, N1+(the .) = 3.
        assert_scalar(lm.prob("mouse", ["the"]), (2 - 0.75 + 0.75 * 3 * p1_mouse) / 4)
        assert_scalar(lm.prob("dog", ["the"]), 0.75 * 3 * p1_unk / 4)
        assert_scalar(lm.prob("mouse", ["dog"]), p1_mouse)  # unseen context
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
        assert_scalar(trigram.prob("mouse", ["ate", "the"]), p3, abs=1e-12)

    @pytest.mark.points(1)
    def test_next_token_probs_are_a_distribution(self, impl):
        assert_distributions_over_next_token(impl, "kneser_ney")


class TestScoring:
    """token_logprobs / perplexity (n-1 <s>, one </s> predicted and counted)"""

    @pytest.mark.points(1)
    def test_perplexity_convention_by_hand(self, impl):
        bigram = fit(impl, 2)
        # The lecture sentence has p = 1/27 over 6 predicted tokens (5 words and </s>).
        assert_scalar(bigram.perplexity([LECTURE]), 27 ** (1 / 6))
        check_array(bigram.token_logprobs([LECTURE, ["a", "mouse", "ate"]]), "f", (10,), "token_logprobs")

    @pytest.mark.points(1)
    def test_mle_unseen_event_gives_inf_with_a_warning(self, impl):
        bigram = fit(impl, 2)
        with pytest.warns(RuntimeWarning, match="probability 0"):
            assert_scalar(bigram.perplexity([["the", "cat", "ate", "the", "cat", "cheese"]]), math.inf)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no NaN or divide warnings leak out
            assert_scalar(bigram.logprob(["cheese", "cat"]), -math.inf)

    @pytest.mark.points(2)
    def test_bigram_mle_reaches_markov_entropy_rate(self, impl):
        source = corpora.MarkovLanguage(1, 8, seed=3)
        ids = source.sample(120_000, np.random.default_rng(4))
        words = source.to_words(ids)
        lm = impl.ngram.NGramLM(2, "mle").fit([words[:100_000]])
        # One long held-out "sentence"; drop its first token (after <s>) and the </s>.
        logprobs = lm.token_logprobs([words[100_000:]])
        check_array(logprobs, "f", (20_001,), "token_logprobs")
        nll = -logprobs[1:-1].mean()
        assert abs(nll - source.entropy_rate) < 0.02

    @pytest.mark.points(2)
    def test_toy_english_perplexity_ordering(self, impl, toy_english):
        grammar, train, _, test = toy_english
        # first the tiny corpus's trigram (the reference's number): cheap and exact
        assert_scalar(fit(impl, 3, "kneser_ney").perplexity([LECTURE]), 2.306928328419906, rel=1e-9)
        ppl = [impl.ngram.NGramLM(n, "kneser_ney").fit(train).perplexity(test) for n in (1, 2, 3)]
        for n, value in zip((1, 2, 3), ppl):
            check_scalar(value, "f", f"perplexity of the {n}-gram")
        true_ppl = math.exp(grammar.entropy_per_token)
        assert ppl[0] > ppl[1] > ppl[2] > true_ppl * 1.05
        assert ppl[1] - ppl[2] > 0.3  # the verb-object dependency a bigram cannot see


class TestSampling:
    """sample (token by token with an explicit rng)"""

    @pytest.mark.points(1)
    def test_deterministic_bigram_chain(self, impl):
        # Only "x y z" is ever seen: every conditional is 0 or 1.
        lm = impl.ngram.NGramLM(2, "mle").fit([["x", "y", "z"]])
        assert_same(lm.sample(np.random.default_rng(0)), ["x", "y", "z"])
        assert_same(lm.sample(np.random.default_rng(0), max_len=2), ["x", "y"])
        assert_same(lm.sample(np.random.default_rng(0), context=["y"]), ["z"])

    @pytest.mark.points(1)
    def test_first_word_frequencies(self, impl):
        lm = fit(impl, 2)
        rng = np.random.default_rng(5)
        firsts = [lm.sample(rng, max_len=1)[0] for _ in range(600)]
        assert_same(sorted(set(firsts)), ["a", "the"])
        # p(the | <s>) = 2/3: the count is Binomial(600, 2/3), sd 11.5.
        assert abs(firsts.count("the") - 400) < 4 * 11.5


class TestDecodingProtocol:
    """decoding protocol: start / step give log next_token_probs as logits (given code, built on the above)"""

    @pytest.mark.points(1)
    def test_logits_match_probabilities_and_state_is_immutable(self, impl):
        lm = fit(impl, 3)
        vocab = lm.vocab
        logits, state = lm.start(vocab.encode(["the"]))
        check_array(logits, "f", (9,), "logits")
        assert_close(np.exp(logits), lm.next_token_probs(["the"]))
        assert_scalar(logits[vocab.index["cat"]], math.log(1 / 2))  # (<s>, the) -> cat
        assert_scalar(logits[vocab.index["ate"]], -math.inf)  # MLE zero
        before = state
        logits2, state2 = lm.step(state, vocab.index["mouse"])
        assert state == before
        check_array(logits2, "f", (9,), "logits")
        assert_close(np.exp(logits2), lm.next_token_probs(["the", "mouse"]))
        assert_scalar(logits2[vocab.index["ate"]], math.log(1 / 2))  # ate or </s>
        # The whole distributions, by hand from TINY (ids: <unk> <s> </s> the ate mouse a cat
        # cheese): (<s>, the) -> mouse or cat; (the, mouse) -> ate (1st) or </s> (2nd);
        # (mouse, ate) -> the (1st) or </s> (3rd), a half each.
        logits3, _ = lm.step(state2, vocab.index["ate"])
        for got, expected in ((logits, [5, 7]), (logits2, [2, 4]), (logits3, [2, 3])):
            by_hand = np.zeros(9)
            by_hand[expected] = 0.5
            assert_close(np.exp(got), by_hand, atol=1e-12)
        # Contexts that back off (MLE falls to the longest seen suffix): (<s>, cat) is unseen,
        # so cat -> ate; (<s>, <s>) -> the 2/3, a 1/3; (the, <unk>) reaches the unigram: of
        # the 16 predicted tokens, the 4, mouse 3, ate 3, </s> 3, a, cat, cheese 1 each.
        for context, by_hand in ((["cat"], [0, 0, 0, 0, 16, 0, 0, 0, 0]),
                                 ([], [0, 0, 0, 32 / 3, 0, 0, 16 / 3, 0, 0]),
                                 (["the", "<unk>"], [0, 0, 3, 4, 3, 3, 1, 1, 1])):
            got, _ = lm.start(vocab.encode(context))
            assert_close(np.exp(got), np.array(by_hand) / 16, atol=1e-12, name=f"start({context})")
        # Ids outside 0..V-1 (V = 9) are errors, never another context's distribution.
        for bad in (9, 12, -1):
            with pytest.raises(ValueError, match="context"):
                lm.next_token_probs([0, bad])
            with pytest.raises(ValueError, match="prompt_ids"):
                lm.start([bad])
            with pytest.raises(ValueError, match="token_id"):
                lm.step(state, bad)

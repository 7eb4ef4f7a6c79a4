"""Instruction tuning (SFT): the batch builder, its loss mask, and a small fine-tuning run.

Expected values are written out by hand (the mask, position by position) or computed
independently of the code under test (the SFT loss, from each pair run alone through the
model, without padding or a batch). Models are the tiny float64 GPTs of test_transformer.py.
"""

import io

import numpy as np
import pytest
from scipy import special

from checks import assert_equal, assert_scalar, check_array, tiny_gpt
from scratch.data.instructions import POLITE, InstructionData, sft_batches
from scratch.data.world import TaskWorld
from scratch.train import loop

PAD, EOS_ID = 0, 2
# A prompt whose last word returns inside its response, and a response that is only <eos>:
# a mask found by searching the text for the prompt's end would get row 0 wrong.
PROMPTS = [[1, 5, 6, 3], [1, 7], [1, 4, 4]]
RESPONSES = [[6, 3, 5, 2], [2], [5, 2]]


class TestSFTBatch:
    """sft_batch: right-padded ids and targets, the loss on response tokens and EOS only"""

    @pytest.mark.points(2)
    def test_ids_and_targets(self, impl):
        ids, targets, _ = impl.sft.sft_batch(PROMPTS, RESPONSES, PAD, 10, EOS_ID)
        # sequences 1 5 6 3 6 3 5 2 | 1 7 2 | 1 4 4 5 2; T = 8 - 1 = 7, right-padded with PAD
        assert_equal(ids, [[1, 5, 6, 3, 6, 3, 5], [1, 7, 0, 0, 0, 0, 0], [1, 4, 4, 5, 0, 0, 0]])
        assert_equal(targets, [[5, 6, 3, 6, 3, 5, 2], [7, 2, 0, 0, 0, 0, 0], [4, 4, 5, 2, 0, 0, 0]])
        assert ids.dtype == np.int64 and targets.dtype == np.int64
        ids, targets, _ = impl.sft.sft_batch(PROMPTS[1:], RESPONSES[1:], 9, 4, EOS_ID)  # another pad id
        assert_equal(ids, [[1, 7, 9, 9], [1, 4, 4, 5]])
        assert_equal(targets, [[7, 2, 9, 9], [4, 4, 5, 2]])

    @pytest.mark.points(3)
    def test_mask_position_by_position(self, impl):
        _, targets, mask = impl.sft.sft_batch(PROMPTS, RESPONSES, PAD, 10, EOS_ID)
        check_array(mask, "b", (3, 7), "mask")
        check_array(targets, "i", (3, 7), "targets")
        # row 0: targets 5 6 3 are prompt words (t = 0, 1, 2); 6 3 5 <eos> the response (t = 3..6)
        assert_equal(mask[0], [0, 0, 0, 1, 1, 1, 1], kind="b")
        # row 1: 7 is the prompt's; <eos> the whole response (t = 1); then padding
        assert_equal(mask[1], [0, 1, 0, 0, 0, 0, 0], kind="b")
        # row 2: 4 4 prompt; 5 <eos> response; padding
        assert_equal(mask[2], [0, 0, 1, 1, 0, 0, 0], kind="b")
        # every EOS target is in the loss, no PAD target is
        assert mask[targets == EOS_ID].all() and not mask[(targets == PAD) & (np.arange(7) > 1)].any()

    @pytest.mark.points(3)
    def test_loss_is_mean_over_response_tokens(self, impl):
        model = tiny_gpt(impl, vocab=8, context=8, layers=1, width=8, seed=2)
        ids, targets, mask = impl.sft.sft_batch(PROMPTS, RESPONSES, PAD, 8, EOS_ID)
        loss, _ = model.loss_and_grads(ids, targets, mask)
        # each pair alone: -log p of its response tokens given everything before them
        nll = []
        for prompt, response in zip(PROMPTS, RESPONSES):
            sequence = np.array([prompt + response])
            logp = special.log_softmax(model.logits(sequence[:, :-1])[0], axis=-1)  # (L - 1, V)
            for i in range(len(response)):
                t = len(prompt) - 1 + i  # the position that predicts response[i]
                nll.append(-logp[t, response[i]])
        assert len(nll) == 7
        assert_scalar(loss, float(np.mean(nll)), abs=1e-12)


class TestSFTLearning:
    """SFT training: the fine-tuned model stops with EOS and copies the demonstrators"""

    @pytest.mark.points(2)
    def test_fine_tuning_a_tiny_gpt(self, impl):
        # One language and reverse over four words; 200 steps of 16 fresh demonstrations.
        data = InstructionData(TaskWorld(seed=0, n_words=4, n_languages=1))
        V, N = len(data.tokenizer), 11
        model = impl.transformer.GPT(V, N, 1, 2, 16, seed=0)
        prompts = [data.tokenizer.encode(data.prompt(inst)) for inst in data.instances("heldout")]
        # Before 200 steps: the first batch's response targets and the untrained model's loss on
        # them, against the reference's numbers, so that a wrong mask fails in milliseconds, not
        # after training (a mask with the prompt in it trains a model that passes what follows).
        ids, targets, mask = next(sft_batches(data, impl.sft, 16, N, np.random.default_rng(1)))
        assert_scalar(mask.sum(), 51, kind="i", name="response targets in the first batch")
        assert_scalar(model.loss(ids, targets, mask), 3.9682698249816895, rel=1e-4, name="first batch's loss")

        def ends_with_eos(m):
            out = impl.batched.generate_batch(m, prompts, 4, greedy=True, stop_id=data.eos_id, pad_id=data.pad_id)
            check_array(out.tokens, "i", (len(prompts), 4), "tokens")
            check_array(out.lengths, "i", (len(prompts),), "lengths")
            return np.mean(out.tokens[np.arange(len(prompts)), out.lengths - 1] == data.eos_id)

        before = ends_with_eos(model)
        history = loop.train_lm(model, sft_batches(data, impl.sft, 16, N, np.random.default_rng(1)),
                                steps=200, lr=0.02, warmup_steps=20, optim=impl.optim, out=io.StringIO())
        # held-out prompts: every greedy answer stops with <eos> within 4 tokens (the random model rarely)
        assert before < 0.2 and ends_with_eos(model) == 1.0, before
        # the loss on response tokens starts near ln V and falls under 1.2 nats (measured: 1.04; the
        # exact floor, once every answer is right, is H(0.25) / 3.25 = 0.17 nats: "sure" or not)
        assert np.mean(history["loss"][:5]) > np.log(V) - 0.5 and np.mean(history["loss"][-20:]) < 1.2
        # SFT copies the demonstrators' politeness rate (p = 0.25), it does not raise it: the
        # share of sampled responses that open with "sure", 400 samples, within 0.1
        out = impl.batched.generate_batch(model, prompts * 23, 1, rng=np.random.default_rng(2))
        check_array(out.tokens, "i", (len(prompts) * 23, 1), "tokens")
        assert abs(np.mean(out.tokens[:, 0] == data.tokenizer.id(POLITE)) - 0.25) < 0.1

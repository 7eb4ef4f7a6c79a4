"""The course's trained models after pretraining, each built from the one before and cached:
the pretrained GPT (chapter 8), the SFT model (chapter 10), the labelled rankings and the
reward model (chapter 11); RLHF (chapter 12) starts from the last two.

A recipe (``sft_recipe``, ``reward_recipe``) says everything that makes a model: the
recipe of the model it starts from, a digest of the code that trains it, the settings.
:mod:`scratch.train.checkpoint` keys the cache by it, so an edit to any of these trains
again. Which models to train again in a run, and where the cache is, is a :class:`Cache`
(the CLI's ``--cache-dir`` and ``--retrain``); without one, the default cache folder and
no retraining.

Decisions: the SFT model's vocabulary is the pretrained one widened by the instruction
words (:func:`widen_vocabulary`: every old id keeps its row); the reward model is trained
on K = 4 SFT samples per prompt ranked by Plackett-Luce labelers at tau = 0.25 and then
normalised on the training groups' samples (mean 0, std 1), so a score reads in standard
deviations of the SFT policy's rewards.
"""

import sys

import numpy as np

from ..data import instructions
from ..data.instructions import InstructionData, label_groups, sft_batches
from . import checkpoint, display, loop, pretraining

SFT = {"steps": 500, "batch": 32, "lr": 0.003, "warmup_steps": 25, "data_seed": 1, "widen_seed": 0}
REWARD = {"K": 4, "tau": 0.25, "train_prompts": 600, "test_prompts": 300, "steps": 300, "batch_prompts": 16,
          "lr": 0.003, "data_seed": 0, "train_seed": 0}
REWARD_HEAD = ("head.w", "head.b")


class Cache:
    """Where trained models are kept (None: :func:`checkpoint.default_cache_dir`) and whether
    to train them again: with ``retrain``, each model the first time a run asks for it; the
    models built on it later in the run reuse the one just trained."""

    def __init__(self, cache_dir=None, retrain=False):
        self.reset(cache_dir, retrain)

    def reset(self, cache_dir=None, retrain=False):
        """Point this cache at ``cache_dir`` with ``retrain``, in place: the lecture chapters hold
        the run's one Cache by name, so the CLI configures it rather than replacing it."""
        if not isinstance(retrain, (bool, np.bool_)):
            raise TypeError(f"retrain must be True or False; got {retrain!r}")
        if cache_dir is not None and not str(cache_dir).strip():
            raise ValueError("cache_dir must name a folder (None: the default cache folder); got an empty string")
        self.cache_dir, self.retrain_all, self.retrained = cache_dir, bool(retrain), set()

    def retrain(self, name):
        if not self.retrain_all or name in self.retrained:
            return False
        self.retrained.add(name)
        return True


def pretrained(impl, cache=None, out=None):
    """Chapter 8's LECTURE model, from the cache or trained now (progress on ``out``)."""
    cache = Cache() if cache is None else cache
    return pretraining.pretrained_gpt(impl, pretraining.LECTURE, cache_dir=cache.cache_dir,
                                      retrain=cache.retrain("pretrained"), out=sys.stdout if out is None else out)


def instruction_data():
    """Instructions over the pretraining world (LECTURE's), with the widened tokenizer."""
    task_world, _ = pretraining.build_world(pretraining.LECTURE)
    return InstructionData(task_world)


def widen_vocabulary(impl, model, vocab_size, seed=0):
    """A copy of the GPT ``model`` with ``vocab_size`` >= its V tokens: the old parameters
    copied, the new embedding rows (and head columns) drawn as at initialisation."""
    if loop.check_count(vocab_size, "vocab_size") < model.vocab_size:
        raise ValueError(f"vocab_size must be >= the model's {model.vocab_size} (every old id keeps its row); "
                         f"got {vocab_size}")
    wider = impl.transformer.GPT(**{**model.config, "vocab_size": vocab_size}, seed=seed)
    for name, value in model.params.items():
        if name == "tok_emb":
            wider.params[name][:len(value)] = value
        elif name == "head.W":
            wider.params[name][:, :value.shape[1]] = value
        else:
            wider.params[name] = value.copy()
    return wider


def sft_recipe(impl):
    """What makes the SFT model: the pretrained model's cache key, the SFT code and settings."""
    code = [impl.module("sft").__file__, instructions.__file__, loop.__file__, __file__]
    return {"implementation": impl.name, "pretrained": pretraining.cache_key(impl, pretraining.LECTURE),
            "code": checkpoint.code_digest(code), **SFT}


def sft_model(impl, data, cache=None, out=None, history=None, base=None):
    """The SFT model, from the cache or fine-tuned now from ``base`` (default: the pretrained
    model); ``history`` gets train_lm's history when it trains."""
    cache = Cache() if cache is None else cache
    out = sys.stdout if out is None else out

    def train():
        start = pretrained(impl, cache, out) if base is None else base
        model = widen_vocabulary(impl, start, len(data.tokenizer), seed=SFT["widen_seed"])
        batches = sft_batches(data, impl.sft, SFT["batch"], model.context_length,
                              np.random.default_rng(SFT["data_seed"]))
        result = loop.train_lm(model, batches, steps=SFT["steps"], lr=SFT["lr"], warmup_steps=SFT["warmup_steps"],
                               optim=impl.optim, log_every=SFT["steps"] // 10, out=out)
        if history is not None:
            history.update(result)
        return model
    return checkpoint.cached_gpt("sft", sft_recipe(impl), train, impl.transformer, cache_dir=cache.cache_dir,
                                 retrain=cache.retrain("sft"), out=out)


def sample_responses(impl, model, data, instances, k, rng, max_new_tokens=5, temperature=1.0):
    """K responses per instance sampled from ``model`` (the SFT policy) in one batch:
    per instance a list of K id arrays, each cut after its ``<eos>`` (or at max_new_tokens)."""
    k = loop.check_count(k, "k")
    if not len(instances):
        raise ValueError("instances must hold at least one instruction to answer; got none")
    prompts = [data.tokenizer.encode(data.prompt(inst)) for inst in instances for _ in range(k)]
    out = impl.batched.generate_batch(model, prompts, max_new_tokens, temperature=temperature,
                                      stop_id=data.eos_id, pad_id=data.pad_id, rng=rng)
    rows = [out.tokens[i, :out.lengths[i]] for i in range(len(prompts))]
    return [rows[i * k:(i + 1) * k] for i in range(len(instances))]


def ranked_groups(impl, model, data, n, split, rng):
    """``n`` instructions of ``split``, K samples of ``model`` each, ranked by the labelers:
    (ids, lengths, rankings, gold)."""
    pool = data.instances(split)
    chosen = [pool[i] for i in rng.integers(len(pool), size=n)]
    responses = sample_responses(impl, model, data, chosen, REWARD["K"], rng)
    return label_groups(data, chosen, responses, REWARD["tau"], rng)


def labelled_data(impl, sft, data):
    """(training groups, held-out groups), each (ids, lengths, rankings, gold), from one seed."""
    rng = np.random.default_rng(REWARD["data_seed"])
    train = ranked_groups(impl, sft, data, REWARD["train_prompts"], "train", rng)
    return train, ranked_groups(impl, sft, data, REWARD["test_prompts"], "heldout", rng)


def reward_recipe(impl, n_prompts, k, steps):
    """What makes a reward model: the SFT model's recipe, the code that samples, labels and
    trains (an edit to any of it makes a new cache entry), and the settings."""
    code = [impl.module(name).__file__ for name in ("reward", "batched", "generate")]
    code += [instructions.__file__, loop.__file__, __file__]
    return {"implementation": impl.name, "sft": sft_recipe(impl), "code": checkpoint.code_digest(code),
            **REWARD, "K": k, "prompts": n_prompts, "steps": steps,
            "normalised_on": "the training groups' SFT samples"}


def train_reward_model(impl, model, groups, *, steps, lr, batch_prompts, rng, max_grad_norm=1.0, progress=None):
    """Train the reward ``model`` in place on ranked groups; returns {"loss": [...]}, one loss per step.

    ``groups`` = (ids (P, K, T), lengths (P, K), rankings (P, K)); each step draws
    ``batch_prompts`` groups without replacement with ``rng`` and takes one step of
    :func:`loop.apply_step` (AdamW, weight decay 0, global-norm clipping at ``max_grad_norm``)
    on ``impl.reward.reward_loss_and_grads`` of their ranking loss. ``progress``: None, or a
    display such as :class:`display.ProgressDisplay`, told ``update(step, loss, lr, n_tokens)``
    after each step.
    """
    ids, lengths, rankings = (np.asarray(a) for a in groups)
    for name, value in (("steps", steps), ("batch_prompts", batch_prompts)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an int >= 1; got {value!r}")
    if batch_prompts > len(ids):
        raise ValueError(f"batch_prompts = {batch_prompts} is more than the {len(ids)} groups")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator; got {type(rng).__name__}")
    state = loop.resident(impl.optim.adamw_init)(model.params)
    history = {"loss": []}
    for step in range(steps):
        chosen = rng.choice(len(ids), size=batch_prompts, replace=False)
        loss, grads = loop.resident(impl.reward.reward_loss_and_grads)(model, ids[chosen], lengths[chosen],
                                                                       rankings[chosen])
        loop.apply_step(impl.optim, model.params, grads, state, loss=loss, lr=lr, where=f"reward-model step {step}",
                        max_grad_norm=max_grad_norm)
        history["loss"].append(loss)
        if progress is not None:
            progress.update(step, loss, lr, ids[chosen].size)
    return history


def cached_reward_model(impl, sft, groups, steps, name, cache=None, out=None, log_every=None):
    """A reward model trained on ``groups`` (ids, lengths, rankings) for ``steps`` steps and
    normalised on their responses, or the one cached under the same recipe (progress on ``out``
    every ``log_every`` steps, default steps // 5)."""
    cache = Cache() if cache is None else cache
    out = sys.stdout if out is None else out
    ids, lengths, rankings = groups[:3]
    template = impl.reward.RewardModel(sft)

    def train():
        model = impl.reward.RewardModel(sft)
        progress = display.ProgressDisplay(steps, log_every or max(1, steps // 5), out)
        train_reward_model(impl, model, (ids, lengths, rankings), steps=steps, lr=REWARD["lr"],
                           batch_prompts=min(REWARD["batch_prompts"], len(ids)),
                           rng=np.random.default_rng(REWARD["train_seed"]), progress=progress)
        impl.reward.normalize_rewards(model, ids.reshape(-1, ids.shape[-1]), lengths.ravel())
        return model.backbone, {part: model.params[part] for part in REWARD_HEAD}

    recipe = reward_recipe(impl, len(ids), ids.shape[1], steps)
    backbone, head = checkpoint.cached_checkpoint(name, recipe, train, impl.transformer,
                                                  {part: template.params[part] for part in REWARD_HEAD},
                                                  cache_dir=cache.cache_dir, retrain=cache.retrain(name), out=out)
    model = impl.reward.RewardModel(backbone)
    for part in REWARD_HEAD:
        model.params[part][...] = head[part]
    return model


def reward_model(impl, data=None, cache=None, out=None):
    """Chapter 11's reward model (the RLHF chapter's), from the cache or trained now; also
    returns the SFT model it starts from: (reward_model, sft_model)."""
    out = sys.stdout if out is None else out
    data = instruction_data() if data is None else data
    sft = sft_model(impl, data, cache, out=out)
    train, _ = labelled_data(impl, sft, data)
    return cached_reward_model(impl, sft, train, REWARD["steps"], "reward", cache, out), sft

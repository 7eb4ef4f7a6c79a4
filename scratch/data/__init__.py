"""Known-truth sources: every corpus is generated from a seed and its distribution is exact,
so a model's loss can be set against the source's real entropy. No model code lives here.

- ``corpora``      toy English ("the mouse ate the cheese") from a small grammar with exact
  sentence probabilities, Markov-chain languages with a known entropy rate, character ids;
- ``world``        the LLM chapters' world: words, made-up word-for-word languages, pages
  to pretrain on, and the exact entropy per token of those pages;
- ``instructions`` instructions and demonstrations over that world (SFT), the gold reward
  and Plackett-Luce rankings (the reward model, RLHF), padding of groups of responses.
"""

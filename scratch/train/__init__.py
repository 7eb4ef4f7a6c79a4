"""What runs models on data: never graded, written once for every chapter.

- ``loop``        batches of token streams, the one training loop (``train_lm``) with its
  optimizer step, held-out loss, and the progress display with its text charts;
- ``pretraining`` the pretraining recipes (``LECTURE``, ``SMALL``), the world they build, and
  the cached pretrained GPT; corpora for transfer;
- ``models``      the course's other cached models, built from the pretrained one: the SFT
  model, the labelled rankings and the reward model, with their recipes;
- ``rlhf``        RLHF step 3: the RLOO and PPO loops against a reward, and DPO's loop;
- ``checkpoint``  saving, loading and caching models under a recipe's key.
"""

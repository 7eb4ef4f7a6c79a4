"""What runs models on data: never graded, written once for every chapter.

- ``loop``        batches of token streams, the one training loop (``train_lm``) with its
  optimizer step (``apply_step``, also the reward and RLHF loops'), held-out loss;
- ``display``     the progress displays, text charts, text side by side, and PNG figures;
- ``pretraining`` the pretraining recipes (``LECTURE``, ``SMALL``), the world they build, and
  the cached pretrained GPT; corpora for transfer;
- ``models``      the course's other cached models, built from the pretrained one: the SFT
  model, the labelled rankings and the reward model, with their recipes;
- ``rlhf``        RLHF step 3: the RLOO and PPO loops against a reward, and DPO's loop;
- ``checkpoint``  saving, loading and caching models under a recipe's key.
"""

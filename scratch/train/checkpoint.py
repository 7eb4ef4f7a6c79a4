"""Saving and loading a GPT, and a cache of trained models (harness: never graded).

A checkpoint is one ``.npz`` file (NumPy's zip of arrays, read back with
``allow_pickle=False``, so loading a file never runs code) holding:

    params/<name>      every array of ``model.params``, under its own name
    extras/<name>      named arrays kept beside the GPT, if any (a reward model's head
                       ``head.w`` (C,) and ``head.b`` (): a GPT backbone plus a few arrays)
    config             JSON: the constructor's arguments (:func:`gpt_config`)
    recipe             JSON: how the model was made (training settings, data seed, the
                       implementation's name, ...), whatever the caller puts in
    recipe_hash        sha256 of the canonical JSON of {"config": ..., "recipe": ...}
    params_digest      sha256 over every parameter's name, shape, dtype and bytes, and every
                       extra array's (named ``extras/<name>`` in the digest; a file without
                       extras has the digest of its parameters alone)

Loading checks all of it: a file that is not an npz, is truncated or fails the zip's own
CRC, a ``recipe_hash`` or ``params_digest`` that does not match what is stored, a config or
recipe other than the caller expects, a parameter or extra array of the wrong name, shape or
dtype: each is a :class:`CheckpointError` naming the file and what is wrong. :func:`load_gpt`
refuses a file with extras (a reward model's backbone is not a policy to sample from);
:func:`load_checkpoint` returns them. Files are written to a temporary
file in the same folder and renamed (``os.replace``) so a crash never leaves half a file
under the real name.

The cache (:func:`cached_gpt`, and :func:`cached_checkpoint` for a GPT with extras) keeps trained models under ``<cache_dir>/<name>-<key>.npz``
where ``key`` is the first 12 hex digits of the sha256 of the recipe alone (the config is
only known once the model is built, so it cannot name the file; a recipe should therefore
say everything that shapes the model, as the train_fn builds the model from it). The recipe
must name the implementation (``"implementation": "solutions"`` or ``"exercises"``): a
student's model and the reference model are different models made by the same recipe, and
must never be served from one cache entry. The cache itself never reads the code: a recipe
that must change with the code carries :func:`code_digest` of its files (the course's recipes
do, so an edit trains again); otherwise pass ``retrain=True`` (the CLI's ``--retrain``).

Two runs that need one entry at once do not both train it: the first holds an exclusive
lock on ``<cache_dir>/.<name>-<key>.lock`` (an empty file, kept: removing it while another run
waits on it would let a third run in) while it trains and saves; the second waits, then
loads what the first saved. (Where ``fcntl`` is missing, Windows, there is no lock.)

The cache folder: ``$SCRATCH_CACHE`` if set, else ``$XDG_CACHE_HOME/scratch``, else
``~/.cache/scratch``.
"""

import contextlib
import hashlib
import json
import os
import secrets
import sys
from pathlib import Path

import numpy as np

try:
    import fcntl
except ImportError:  # Windows: no lock between runs
    fcntl = None

PARAM_PREFIX = "params/"
EXTRA_PREFIX = "extras/"
METADATA = ("config", "recipe", "recipe_hash", "params_digest")


class CheckpointError(Exception):
    """A checkpoint file that cannot be read, is corrupted, or is not the one expected."""


def canonical_json(value, name="value"):
    """One JSON text per value: sorted keys, no spaces; TypeError naming ``name`` if it is not
    JSON-serialisable (NaN and infinities are refused too: they are not JSON)."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be JSON-serialisable (dicts, lists, str, finite numbers, bools, "
                        f"None); {err}") from None


def recipe_hash(config, recipe):
    """sha256 hex digest of the canonical JSON of {"config": config, "recipe": recipe}."""
    text = canonical_json({"config": config, "recipe": recipe}, "recipe")
    return hashlib.sha256(text.encode()).hexdigest()


def params_digest(params):
    """sha256 hex digest over every array's name, shape, dtype and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(params):
        array = np.ascontiguousarray(params[name])
        digest.update(f"{name}|{array.shape}|{array.dtype.str}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def code_digest(paths):
    """The first 16 hex digits of the sha256 of the files' bytes, in order: put in a recipe,
    so that an edit to the code that trains a model makes a new cache entry."""
    return hashlib.sha256(b"".join(Path(path).read_bytes() for path in paths)).hexdigest()[:16]


def gpt_config(model):
    """The arguments that rebuild ``model``: ``GPT(**config)`` (``GPT.config``: dtype by name,
    the same JSON as the checkpoints written before it, so their cache keys still match), as a
    plain dict: in a grading run the model is the student's, and its config a live handle."""
    return dict(model.config.items())


def digested_arrays(params, extras):
    """What ``params_digest`` covers: the parameters under their names, the extras under
    ``extras/<name>`` (so a file without extras keeps the digest of its parameters alone)."""
    return {**params, **{EXTRA_PREFIX + name: value for name, value in extras.items()}}


def save_gpt(path, model, recipe, extras=None):
    """Write ``model``, its ``recipe`` (a JSON-serialisable dict) and ``extras`` (None, or a
    dict of named arrays kept beside the GPT) to ``path`` (.npz), atomically, creating the
    parent folders. Returns the path as a Path."""
    path = Path(path)
    if not isinstance(recipe, dict):
        raise TypeError(f"recipe must be a dict; got {type(recipe).__name__}")
    extras = {} if extras is None else extras
    if not isinstance(extras, dict) or not all(isinstance(name, str) and name for name in extras):
        raise TypeError(f"extras must be a dict of arrays under non-empty string names; got {extras!r}")
    extras = {name: np.asarray(value) for name, value in extras.items()}
    check_finite_arrays(path, {**model.params, **extras}, error=ValueError)
    config = gpt_config(model)
    arrays = {PARAM_PREFIX + name: np.asarray(value) for name, value in model.params.items()}
    arrays.update({EXTRA_PREFIX + name: value for name, value in extras.items()})
    arrays.update(config=np.array(canonical_json(config, "config")),
                  recipe=np.array(canonical_json(recipe, "recipe")),
                  recipe_hash=np.array(recipe_hash(config, recipe)),
                  params_digest=np.array(params_digest(digested_arrays(model.params, extras))))
    path.parent.mkdir(parents=True, exist_ok=True)
    # The name first, the file created inside the try: a signal (Ctrl-C, or SIGTERM raised as an
    # exception by the CLI) anywhere from its creation on removes it.
    temporary = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        with open(temporary, "xb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def read_checkpoint(path):
    """(params, config, recipe, extras) from the file, every hash verified; CheckpointError
    otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in METADATA if key not in archive.files]
            if missing:
                raise CheckpointError(f"{path}: corrupted or not a GPT checkpoint (no {', '.join(missing)})")
            stored = {key: str(archive[key]) for key in METADATA}
            params = {key[len(PARAM_PREFIX):]: archive[key] for key in archive.files if key.startswith(PARAM_PREFIX)}
            extras = {key[len(EXTRA_PREFIX):]: archive[key] for key in archive.files if key.startswith(EXTRA_PREFIX)}
        config, recipe = json.loads(stored["config"]), json.loads(stored["recipe"])
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001
        # A damaged zip fails in many ways (BadZipFile for a truncated file or a failed CRC,
        # EOFError, ValueError from the npy header or the JSON, NotImplementedError for a
        # flipped compression field, ...); every one of them means the same thing here.
        raise CheckpointError(f"{path}: unreadable or corrupted checkpoint ({type(err).__name__}: {err})") from None
    if recipe_hash(config, recipe) != stored["recipe_hash"]:
        raise CheckpointError(f"{path}: corrupted, the config and recipe do not match their stored hash")
    if params_digest(digested_arrays(params, extras)) != stored["params_digest"]:
        raise CheckpointError(f"{path}: corrupted, the parameters do not match their stored digest")
    return params, config, recipe, extras


def check_expected(path, what, stored, expected):
    """CheckpointError naming every key where ``stored`` and ``expected`` differ (JSON-wise)."""
    if expected is None:
        return
    expected = json.loads(canonical_json(expected, f"expect_{what}"))
    differing = sorted(set(stored) | set(expected), key=str)
    differing = [key for key in differing if stored.get(key, "<missing>") != expected.get(key, "<missing>")]
    if differing:
        details = "; ".join(f"{key}: file has {stored.get(key, '<missing>')!r}, expected "
                            f"{expected.get(key, '<missing>')!r}" for key in differing)
        raise CheckpointError(f"{path}: {what} differs from the one expected in {', '.join(map(str, differing))} "
                              f"({details})")


def check_arrays(path, what, stored, expected, error=CheckpointError):
    """``error`` unless ``stored`` has exactly the names of ``expected`` (a dict of arrays),
    each with the same shape and dtype."""
    if set(stored) != set(expected):
        raise error(f"{path}: {what} names differ from the model's; file only: "
                              f"{sorted(set(stored) - set(expected))}, model only: "
                              f"{sorted(set(expected) - set(stored))}")
    for name, target in expected.items():
        if stored[name].shape != target.shape or stored[name].dtype != target.dtype:
            raise error(f"{path}: {what} {name} is {stored[name].dtype} {stored[name].shape}; "
                                  f"the model needs {target.dtype} {target.shape}")


def check_finite_arrays(path, arrays, error=CheckpointError):
    """``error`` naming the first float array of ``arrays`` with a NaN or an infinity (a model
    that diverged: saved or loaded, it would only give NaN)."""
    for name, value in arrays.items():
        value = np.asarray(value)
        if np.issubdtype(value.dtype, np.inexact) and not np.isfinite(value).all():
            raise error(f"{path}: {name} holds {int((~np.isfinite(value)).sum())} NaN or infinite entries; "
                        f"a model with NaN parameters is not kept")


def load_checkpoint(path, transformer_module, *, expect_config=None, expect_recipe=None, expect_extras=None):
    """The GPT saved at ``path``, rebuilt with ``transformer_module.GPT``, its recipe and its
    extras: (model, recipe, extras), extras a dict of arrays ({} if the file has none).

    ``expect_config`` / ``expect_recipe``: dicts the stored ones must equal (None: anything);
    ``expect_extras``: a dict of arrays whose names, shapes and dtypes the stored extras must
    have (None: anything). CheckpointError for anything wrong (module docstring)."""
    path = Path(path)
    params, config, recipe, extras = read_checkpoint(path)
    check_expected(path, "config", config, expect_config)
    check_expected(path, "recipe", recipe, expect_recipe)
    try:
        model = transformer_module.GPT(**config)
    except (TypeError, ValueError, KeyError) as err:
        raise CheckpointError(f"{path}: its config {config} does not build a GPT ({err})") from None
    check_arrays(path, "parameter", params, model.params)
    if expect_extras is not None:
        check_arrays(path, "extra array", extras, {name: np.asarray(v) for name, v in expect_extras.items()})
    check_finite_arrays(path, {**params, **{EXTRA_PREFIX + name: value for name, value in extras.items()}})
    for name, target in model.params.items():
        target[...] = params[name]
    return model, recipe, extras


def load_gpt(path, transformer_module, *, expect_config=None, expect_recipe=None):
    """The GPT saved at ``path``, rebuilt with ``transformer_module.GPT``, and its recipe:
    (model, recipe). A file with extras is refused (:func:`load_checkpoint` reads those)."""
    model, recipe, _ = load_checkpoint(path, transformer_module, expect_config=expect_config,
                                       expect_recipe=expect_recipe, expect_extras={})
    return model, recipe


def default_cache_dir():
    """$SCRATCH_CACHE, else $XDG_CACHE_HOME/scratch, else ~/.cache/scratch (a Path)."""
    if os.environ.get("SCRATCH_CACHE"):
        return Path(os.environ["SCRATCH_CACHE"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "scratch"
    return Path.home() / ".cache" / "scratch"


def cache_path(name, recipe, cache_dir=None):
    """``<cache_dir>/<name>-<sha256(recipe)[:12]>.npz`` (cache_dir None: default_cache_dir())."""
    if not isinstance(name, str) or not name or "/" in name or os.sep in name or name.startswith("."):
        raise ValueError(f"name must be a non-empty file-name stem without path separators; got {name!r}")
    if not isinstance(recipe, dict):
        raise TypeError(f"recipe must be a dict; got {type(recipe).__name__}")
    key = hashlib.sha256(canonical_json(recipe, "recipe").encode()).hexdigest()[:12]
    return Path(cache_dir if cache_dir is not None else default_cache_dir()) / f"{name}-{key}.npz"


def check_implementation(recipe, transformer_module):
    """ValueError unless recipe["implementation"] names the package of ``transformer_module``."""
    package = transformer_module.__name__.rpartition(".")[0] or transformer_module.__name__
    if recipe.get("implementation") != package:
        raise ValueError(f"recipe must name the implementation that trains the model, "
                         f"recipe['implementation'] = {package!r}; got {recipe.get('implementation')!r} "
                         f"(a student's model and the reference must not share a cache entry)")


@contextlib.contextmanager
def entry_lock(path, name, out):
    """Hold an exclusive lock on ``path``'s lock file (module docstring), waiting for it if
    another run holds it."""
    if fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.stem}.lock"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"[{name}] another run is making this model; waiting for it ({path})", file=out, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def cached_checkpoint(name, recipe, train_fn, transformer_module, expect_extras, *, cache_dir=None,
                      retrain=False, out=None):
    """A GPT and its extras made by ``recipe``: loaded from the cache if they are there, else
    ``train_fn()``, saved, and returned as (model, extras). The file is :func:`cache_path`
    (name, recipe, cache_dir).

    ``recipe``: JSON-serialisable dict, with ``"implementation"`` naming the package of
    ``transformer_module`` (module docstring). ``train_fn()`` -> (a ``transformer_module.GPT``,
    a dict of arrays with the names, shapes and dtypes of ``expect_extras``). ``retrain``:
    train and overwrite even if a cached file loads. A cached file that fails to load is
    reported on ``out`` (default sys.stdout) and replaced, never a crash.
    """
    out = sys.stdout if out is None else out
    path = cache_path(name, recipe, cache_dir)
    check_implementation(recipe, transformer_module)
    with entry_lock(path, name, out):
        return load_or_train(path, name, recipe, train_fn, transformer_module, expect_extras, retrain, out)


def load_or_train(path, name, recipe, train_fn, transformer_module, expect_extras, retrain, out):
    """:func:`cached_checkpoint`'s work, under the entry's lock."""
    if path.exists() and not retrain:
        try:
            model, _, extras = load_checkpoint(path, transformer_module, expect_recipe=recipe,
                                               expect_extras=expect_extras)
            print(f"[{name}] reused the trained model in {path} (--retrain trains it again)", file=out)
            return model, extras
        except CheckpointError as err:
            print(f"[{name}] cannot reuse the cached model, training again: {err}", file=out)
    model, extras = train_fn()
    if not isinstance(model, transformer_module.GPT):
        raise TypeError(f"train_fn must return a {transformer_module.__name__}.GPT; got {type(model).__name__}")
    extras = {key: np.asarray(value) for key, value in extras.items()}
    check_arrays(f"train_fn of {name!r}", "extra array", extras,
                 {key: np.asarray(value) for key, value in expect_extras.items()}, error=ValueError)
    save_gpt(path, model, recipe, extras)
    print(f"[{name}] trained and saved to {path}", file=out)
    return model, extras


def cached_gpt(name, recipe, train_fn, transformer_module, *, cache_dir=None, retrain=False, out=None):
    """The GPT made by ``recipe`` (``train_fn()`` -> a ``transformer_module.GPT``), from the
    cache or trained and saved: :func:`cached_checkpoint` without extras."""
    model, _ = cached_checkpoint(name, recipe, lambda: (train_fn(), {}), transformer_module, {},
                                 cache_dir=cache_dir, retrain=retrain, out=out)
    return model

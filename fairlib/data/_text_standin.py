"""A religion-targeted hate-speech stand-in, generated from templates that ship inside fairlib (no download).

Why a template corpus
---------------------
Paper 1 fine-tunes sequence classifiers on the D-Lab *measuring-hate-speech* corpus restricted to comments that
target one religion, with label ``hate_speech_score > 0.5`` and groups = the targeted religion. That corpus lives
only on a model hub; no text with identity-group labels ships in an installable package. Template sentences in
which an identity term is varied are the standard way to probe identity bias in text classifiers when real
annotated text is unavailable (Dixon et al., 2018, "Measuring and mitigating unintended bias in text
classification", whose synthetic test set is built exactly this way).

How each example is made
------------------------
1. The targeted group ``s`` is drawn with unequal shares (``DEFAULT_GROUP_SHARES``), as subgroup sizes in the
   real corpus are unequal.
2. A content *category* is drawn from a group-specific mix (``DEFAULT_CATEGORY_MIX``): ``explicit`` hate,
   ``implicit`` (insinuating, borderline) hate, ``counter`` speech (quotes or condemns hate), ``neutral`` news or
   everyday mentions, ``supportive`` statements. Groups that attract more hateful comments in the real corpus get
   more of the first two, so the hate base rate differs by group (which is what makes demographic parity a
   meaningful metric here, as in the paper).
3. The sentence is a template of that category with the group's identity term and filler words (place, time,
   an opener) substituted. Every sentence of a dataset is distinct, so a membership-inference candidate never has
   an exact copy on the other side of the member/non-member split.
4. A continuous ``hate_speech_score`` mimics the corpus' IRT score: the category's severity plus Gaussian
   annotation noise whose spread depends on the group (``DEFAULT_NOISE_SD``), and the label is
   ``score > 0.5`` exactly as paper 1 thresholds the real score. Explicit hate and supportive text are almost
   never flipped; implicit hate and counter speech sit near the threshold, so their labels are partly noise. The
   smallest groups carry the most noise (annotators agree less on them), so they are both under-represented and
   harder: the situation in which group-wise accuracy, DPD and EOD separate.

What it keeps and what it does not
----------------------------------
It keeps the task (binary hate-speech detection on short comments), the grouping (the targeted religion, named in
the text), unequal group sizes, group-dependent base rates and group-dependent label noise, and a pretrained
encoder's prior associations with real identity terms. It lacks the real corpus' linguistic variety, its
annotator population and its exact rates: its numbers test whether LoRA and full fine-tuning *behave* differently
per group, not the paper's numbers. The hateful templates are deliberately mild (no slurs).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ._types import GroupedDataset

__all__ = ["RELIGION_GROUPS", "IDENTITY_TERMS", "TEXT_CATEGORIES", "CATEGORY_SEVERITY", "TEXT_TEMPLATES",
           "DEFAULT_GROUP_SHARES", "DEFAULT_CATEGORY_MIX", "DEFAULT_NOISE_SD", "HATE_THRESHOLD", "religion_standin"]

#: Targeted groups, in display order (largest first with the default shares).
RELIGION_GROUPS = ("muslim", "jewish", "christian", "hindu", "atheist")

#: Surface forms of each group in a sentence; every form names only its own group.
IDENTITY_TERMS = {
    "muslim": ("muslims", "muslim people", "the muslim community", "followers of islam"),
    "jewish": ("jews", "jewish people", "the jewish community", "followers of judaism"),
    "christian": ("christians", "christian people", "the christian community", "followers of christianity"),
    "hindu": ("hindus", "hindu people", "the hindu community", "followers of hinduism"),
    "atheist": ("atheists", "atheist people", "the atheist community", "people with no religion"),
}

TEXT_CATEGORIES = ("explicit", "implicit", "counter", "neutral", "supportive")
#: Mean hate-speech score of each category (the label threshold is 0.5, as in paper 1).
CATEGORY_SEVERITY = {"explicit": 1.6, "implicit": 0.75, "counter": 0.25, "neutral": -0.8, "supportive": -1.5}
HATE_THRESHOLD = 0.5

#: ``{g}``: identity term; ``{place}``, ``{time}``: fillers. Every template has at least one filler.
TEXT_TEMPLATES = {
    "explicit": (
        "{g} should be thrown out of {place}",
        "i hate {g}, they ruin {place}",
        "{g} are liars and cannot be trusted in {place}",
        "keep {g} away from {place}, they are dangerous",
        "{g} do not belong in {place} and never will",
        "{g} are a disease on {place}",
        "{g} in {place} should all be sent away {time}",
        "{g} are disgusting, ban them from {place}",
    ),
    "implicit": (
        "funny how {g} always take over {place}",
        "there are way too many {g} in {place} lately",
        "not all {g} are bad, but the ones in {place} are",
        "{g} in {place} should learn to keep quiet",
        "just saying, {place} was better before {g} arrived",
        "{g} got special treatment in {place} again {time}",
        "we all know what {g} in {place} are really like",
    ),
    "counter": (
        "saying {g} ruin {place} is a hateful lie",
        "stop blaming {g} for everything wrong in {place}",
        "the attack on {g} in {place} {time} was disgusting",
        "people who hate {g} in {place} should be ashamed",
        "calling {g} dangerous is just bigotry, {place} deserves better",
        "i reported the post that insulted {g} in {place}",
    ),
    "neutral": (
        "{g} in {place} held a festival {time}",
        "a survey of {g} in {place} was published {time}",
        "my neighbours in {place} are {g} and we talked {time}",
        "{g} gathered in {place} {time}",
        "a documentary about {g} in {place} was shown {time}",
        "a new book on the history of {g} in {place} came out {time}",
        "the council met with {g} from {place} {time}",
    ),
    "supportive": (
        "{g} are welcome in {place}",
        "i am proud of my friends among {g} in {place}",
        "{g} make {place} a better place",
        "thank you to the {g} who volunteered in {place} {time}",
        "so glad {g} in {place} feel safe {time}",
        "{g} in {place} deserve respect and kindness",
    ),
}
_PLACES = ("our town", "this country", "the city", "my school", "the neighbourhood", "europe", "america",
           "the office", "our street", "the university", "the village", "this forum")
_TIMES = ("today", "last week", "yesterday", "this morning", "on sunday", "last year", "last night",
          "this weekend", "last month", "recently")
_OPENERS = ("", "honestly, ", "tbh ", "i think ", "well, ", "look, ", "seriously, ")

#: Share of each group (same order as RELIGION_GROUPS); unequal as in the real corpus.
DEFAULT_GROUP_SHARES = (0.34, 0.26, 0.2, 0.12, 0.08)
#: Probability of each category (order of TEXT_CATEGORIES) given the targeted group.
DEFAULT_CATEGORY_MIX = {
    "muslim": (0.25, 0.20, 0.15, 0.25, 0.15),
    "jewish": (0.22, 0.20, 0.15, 0.28, 0.15),
    "christian": (0.08, 0.12, 0.10, 0.45, 0.25),
    "hindu": (0.12, 0.15, 0.08, 0.40, 0.25),
    "atheist": (0.06, 0.20, 0.06, 0.43, 0.25),
}
#: Standard deviation of the annotation noise added to the score, per group (the smallest groups the noisiest).
DEFAULT_NOISE_SD = {"muslim": 0.25, "jewish": 0.25, "christian": 0.2, "hindu": 0.35, "atheist": 0.45}


def _check_probabilities(name: str, values: Sequence[float], size: int) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (size,) or (array < 0).any() or not np.isclose(array.sum(), 1.0):
        raise ValueError(f"{name} must be {size} non-negative probabilities summing to 1, got {values!r}")
    return array


def religion_standin(*, n: int, seed: int, groups: Sequence[str] = RELIGION_GROUPS,
                     group_shares: Sequence[float] = DEFAULT_GROUP_SHARES,
                     category_mix: Mapping[str, Sequence[float]] | None = None,
                     noise_sd: Mapping[str, float] | None = None,
                     name: str = "religion hate-speech stand-in (templates)") -> GroupedDataset:
    """Draw ``n`` distinct templated comments targeting a religion, labelled hate speech or not.

    Parameters
    ----------
    n : int
        Number of examples (all texts distinct).
    seed : int
        The same seed gives the same dataset.
    groups : sequence of str
        Keys of :data:`IDENTITY_TERMS`, in display order.
    group_shares : sequence of float
        Probability of each group (aligned with ``groups``).
    category_mix : mapping, optional
        Per group, the probabilities of :data:`TEXT_CATEGORIES` (default :data:`DEFAULT_CATEGORY_MIX`).
    noise_sd : mapping, optional
        Per group, the spread of the annotation noise on the score (default :data:`DEFAULT_NOISE_SD`); 0 makes
        the label a function of the category (explicit, implicit -> hate; the rest -> not hate).
    name : str
        Dataset name (it says "stand-in").

    Returns
    -------
    GroupedDataset
        ``x`` list of str; ``y`` 1 = hate speech (``score > 0.5``); ``s`` the targeted group.
        ``info``: ``hate_speech_score``, ``category`` (index into :data:`TEXT_CATEGORIES`), ``template``
        (index within its category), ``term`` (index into the group's :data:`IDENTITY_TERMS`), and how it was
        built.

    Raises
    ------
    ValueError
        Unknown groups, probabilities that do not sum to 1, negative noise, or more examples requested than a
        (group, category) cell has distinct sentences.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    groups = tuple(groups)
    unknown = [g for g in groups if g not in IDENTITY_TERMS]
    if unknown or len(set(groups)) != len(groups) or not groups:
        raise ValueError(f"groups must be distinct keys of IDENTITY_TERMS {tuple(IDENTITY_TERMS)}, got {groups!r}")
    shares = _check_probabilities("group_shares", group_shares, len(groups))
    category_mix = dict(DEFAULT_CATEGORY_MIX if category_mix is None else category_mix)
    noise_sd = dict(DEFAULT_NOISE_SD if noise_sd is None else noise_sd)
    for g in groups:
        if g not in category_mix or g not in noise_sd:
            raise ValueError(f"category_mix and noise_sd need an entry for group {g!r}")
        if not (np.isfinite(noise_sd[g]) and noise_sd[g] >= 0):
            raise ValueError(f"noise_sd[{g!r}] must be >= 0, got {noise_sd[g]!r}")
    mix = np.stack([_check_probabilities(f"category_mix[{g!r}]", category_mix[g], len(TEXT_CATEGORIES))
                    for g in groups])

    rng = np.random.default_rng(seed)
    s = rng.choice(len(groups), size=n, p=shares)
    category = np.asarray([rng.choice(len(TEXT_CATEGORIES), p=mix[g]) for g in s], dtype=np.int64)
    texts, template, term = [], np.empty(n, np.int64), np.empty(n, np.int64)
    seen: set[str] = set()
    for i in range(n):
        group, cat = groups[s[i]], TEXT_CATEGORIES[category[i]]
        pool = TEXT_TEMPLATES[cat]
        # Rejection keeps every text distinct; each (group, category) cell has thousands of combinations, so
        # a cell only runs dry when asked for far more examples than any profile uses.
        for _ in range(200):
            t, k = int(rng.integers(len(pool))), int(rng.integers(len(IDENTITY_TERMS[group])))
            text = _OPENERS[rng.integers(len(_OPENERS))] + pool[t].format(
                g=IDENTITY_TERMS[group][k], place=_PLACES[rng.integers(len(_PLACES))],
                time=_TIMES[rng.integers(len(_TIMES))])
            if text not in seen:
                break
        else:
            raise ValueError(f"ran out of distinct sentences for group {group!r}, category {cat!r}: n={n} is too "
                             f"large for the templates")
        seen.add(text)
        texts.append(text)
        template[i], term[i] = t, k
    severity = np.asarray([CATEGORY_SEVERITY[c] for c in TEXT_CATEGORIES])[category]
    score = severity + np.asarray([noise_sd[g] for g in groups])[s] * rng.standard_normal(n)
    y = (score > HATE_THRESHOLD).astype(np.int64)
    info = {"stand_in": True, "score": score, "hate_speech_score": score, "category": category,
            "template": template, "term": term,
            "built_from": "templated comments (fairlib.data._text_standin) with a varied religion term; "
                          "label = severity of the template's category + group-dependent annotation noise > 0.5"}
    return GroupedDataset(name=name, x=texts, y=y, s=s, group_names=groups,
                          class_names=("not hate speech", "hate speech"), sensitive_name="religion", info=info)

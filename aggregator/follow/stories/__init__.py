"""One story, many outlets: which updates from different sources report the same fact.

Pure functions and one in-memory index, no I/O. The pipeline, module by module:

* `text`: an entry's title and text to tokens (NFKC, casefold, punctuation
  and stop words out, numbers and names kept, light stemming);
* `minhash`: seeded MinHash signatures over the token sets and LSH banding,
  the blocking step that keeps the work near linear in the number of entries
  (its buckets bounded, so a new entry's share of it is bounded too);
* `match`: the exact score of a candidate pair (cosine of the token sets,
  numbers weighted, discounted by the time between the two reports) and the
  thresholds (`MatchParams`);
* `cluster`: stories from accepted pairs, at most one entry per source, built
  one entry at a time (`StoryIndex.add`, at most `CANDIDATES + CHECKS` exact
  scores each, whatever the texts) or over a batch (`cluster_stories`), with
  ids derived from each story's earliest member;
* `linker`: the follower that records the stories in the log, warming its
  index up only when new entries call for it.
"""

from aggregator.follow.stories.cluster import (
    Assignment,
    BlockingStats,
    StoryEntry,
    StoryIndex,
    candidate_pairs,
    cluster_stories,
    pair_score,
    story_id,
)
from aggregator.follow.stories.match import MatchParams

__all__ = [
    "Assignment",
    "BlockingStats",
    "MatchParams",
    "StoryEntry",
    "StoryIndex",
    "candidate_pairs",
    "cluster_stories",
    "pair_score",
    "story_id",
]

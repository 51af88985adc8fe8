#!/usr/bin/env bash
# Installs WordNet 3.0 for nltk (METEOR) from Debian's packages into an nltk data directory:
#   scripts/setup_wordnet.sh TARGET_NLTK_DATA_DIR        (the Makefile passes .venv/share/nltk_data)
# Copies /usr/share/wordnet (apt: wordnet-base wordnet-sense-index) to TARGET/corpora/wordnet,
# adds the `lexnames` file nltk's reader needs (Debian does not ship it), and checks that nltk loads it.
# Idempotent: an existing, complete copy is kept; a partial one is replaced.
# Never downloads anything (no nltk.download()).
set -euo pipefail

SRC=${WORDNET_SRC:-/usr/share/wordnet}
LEXNAMES_MAN=${WORDNET_LEXNAMES_MAN:-/usr/share/man/man5/lexnames.5WN.gz}

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 TARGET_NLTK_DATA_DIR   (e.g. .venv/share/nltk_data)" >&2
  exit 2
fi
TARGET=$1
DEST="$TARGET/corpora/wordnet"

# The files nltk's WordNetCorpusReader opens (besides lexnames, which we write).
required=(cntlist.rev index.sense index.adj index.adv index.noun index.verb
          data.adj data.adv data.noun data.verb adj.exc adv.exc noun.exc verb.exc)

missing=()
for f in "${required[@]}"; do
  [ -f "$SRC/$f" ] || missing+=("$f")
done
if [ ${#missing[@]} -ne 0 ]; then
  echo "error: WordNet files missing in $SRC: ${missing[*]}" >&2
  echo "       install them with: apt-get install wordnet-base wordnet-sense-index" >&2
  echo "       (or run scripts/setup_system.sh / make setup)" >&2
  exit 1
fi

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  # Prefer the venv that owns TARGET (TARGET = <venv>/share/nltk_data), then the project venv.
  venv_py="$(cd "$(dirname "$TARGET")/.." 2>/dev/null && pwd)/bin/python"
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  if [ -x "$venv_py" ]; then PY=$venv_py
  elif [ -x "$here/.venv/bin/python" ]; then PY=$here/.venv/bin/python
  else PY=python3
  fi
fi

# lexnames: "NN<TAB>name<TAB>posnum", 45 lines (WordNet 3.0). Derived from the lexnames(5WN) man page;
# Docker-style images often drop man pages, so the same 45 names are kept here as a fallback.
fallback_names="adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute
noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location
noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process
noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change
verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation
verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"

make_lexnames() {
  local names
  if [ -r "$LEXNAMES_MAN" ]; then
    # Table rows look like "00<TAB>adj.all<TAB>description"; keep number and name.
    names=$(gzip -dc "$LEXNAMES_MAN" | awk -F'\t' '$1 ~ /^[0-9][0-9]$/ { gsub(/ /, "", $2); print $1, $2 }')
  else
    names=$(echo $fallback_names | tr ' ' '\n' | awk '{ printf "%02d %s\n", NR - 1, $1 }')
  fi
  echo "$names" | awk '
    { split($2, parts, "."); pos = parts[1]
      num = (pos == "noun") ? 1 : (pos == "verb") ? 2 : (pos == "adj") ? 3 : (pos == "adv") ? 4 : 0
      if (num == 0) { print "bad lexname: " $0 > "/dev/stderr"; exit 1 }
      printf "%s\t%s\t%d\n", $1, $2, num }'
}

lexnames=$(make_lexnames)
count=$(printf '%s\n' "$lexnames" | wc -l)
if [ "$count" -ne 45 ]; then
  echo "error: expected 45 lexnames, derived $count (from ${LEXNAMES_MAN})" >&2
  exit 1
fi

complete=1
for f in "${required[@]}" lexnames; do
  [ -f "$DEST/$f" ] && [ ! -L "$DEST/$f" ] || complete=0
done
if [ -L "$DEST" ]; then complete=0; fi
if [ "$complete" -eq 1 ] && [ "$(cat "$DEST/lexnames")" = "$lexnames" ]; then
  echo "wordnet: already installed in $DEST"
else
  echo "wordnet: copying $SRC to $DEST"
  mkdir -p "$TARGET/corpora"
  tmp=$(mktemp -d "$TARGET/corpora/.wordnet.XXXXXX")
  # A real copy (-L dereferences links): nltk does not follow a symlinked corpus directory.
  cp -L "$SRC"/* "$tmp"/
  printf '%s\n' "$lexnames" > "$tmp/lexnames"
  chmod 755 "$tmp"
  rm -rf "$DEST"
  mv "$tmp" "$DEST"
fi

# Check that nltk (searching only TARGET) loads it.
NLTK_DATA="$TARGET" "$PY" - "$TARGET" <<'EOF'
import sys

import nltk

nltk.data.path[:] = [sys.argv[1]]
from nltk.corpus import wordnet

synsets = wordnet.synsets("dog")
assert synsets and synsets[0].name() == "dog.n.01", synsets
print(f"wordnet: nltk loads it ({len(synsets)} synsets for 'dog', lexname {synsets[0].lexname()})")
EOF

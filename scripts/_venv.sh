# Sourced by scripts/test and scripts/demo: make (or reuse) a virtualenv with the project installed.
# Usage: ensure_venv DIR PYTHON EXTRAS
ensure_venv() {
  local dir=$1 python=$2 extras=$3
  local stamp="$dir/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)-$extras"
  if [ ! -x "$dir/bin/python" ]; then
    "$python" -m venv "$dir"
  fi
  if [ ! -f "$stamp" ]; then
    "$dir/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    "$dir/bin/python" -m pip install -q --disable-pip-version-check -e ".[$extras]"
    rm -f "$dir"/.installed-*
    touch "$stamp"
  fi
}

# find_python 3.10 -> a path to a working interpreter of that version (pyenv first, since its
# shims exist for every version but fail for those not selected), or nothing.
find_python() {
  local version=$1 candidate
  if command -v pyenv >/dev/null 2>&1; then
    for candidate in "$(pyenv root)"/versions/"$version".*/bin/python"$version"; do
      if [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
    done
  fi
  candidate=$(command -v "python$version" 2>/dev/null || true)
  if [ -n "$candidate" ] && "$candidate" --version >/dev/null 2>&1; then
    echo "$candidate"
    return 0
  fi
  return 1
}

# ensure_lowest_venv DIR PYTHON EXTRAS: a virtualenv with the project installed and every
# requirement it names (its dependencies and those of EXTRAS) at the lowest version its bounds
# allow, by uv (from the dev extra, so .venv must exist). Remade whenever pyproject.toml changes,
# since uv never downgrades what is already installed.
ensure_lowest_venv() {
  local dir=$1 python=$2 extras=$3
  local stamp="$dir/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)-$extras"
  if [ ! -f "$stamp" ]; then
    rm -rf "$dir"
    .venv/bin/uv venv -q --seed --python "$python" "$dir"  # --seed: pip, for scripts that use it
    .venv/bin/uv pip install -q --python "$dir/bin/python" --resolution lowest-direct -e ".[$extras]"
    touch "$stamp"
  fi
}

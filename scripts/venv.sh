# Sourced by main.sh and test.sh: make ./.venv and install algoeff into it.
# Usage: install_algoeff EXTRAS   (for example "test" or "" for none)
# torch and torchvision are pinned to the releases that lie on this machine's
# disk (torchvision from PyPI needs torch 2.14.1 here); pip reuses them.
install_algoeff() {
  local extras="$1" spec="."
  [ -n "$extras" ] && spec=".[$extras]"
  if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv" >&2
    python3 -m venv .venv
  fi
  echo "==> installing algoeff${extras:+[$extras]} into .venv (a few minutes the first time)" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check \
    "torch==2.14.1" "torchvision==0.29.1" -e "$spec"
}

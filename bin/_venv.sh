# Shared by bin/dev, bin/test and .ci/run (sourced, not run): make .venv match requirements.txt.
#
# Idempotent and quick when nothing changed: a stamp file records the hash of requirements.txt and
# the interpreter version the venv was last installed from; pip runs only when either differs.

crm_python() {
  # Python 3.11 or newer: $PYTHON if given, else python3.11, else python3.
  local candidate
  for candidate in "${PYTHON:-}" python3.11 python3; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

ensure_venv() {
  local python stamp want
  if ! .venv/bin/python -c 'import sys' >/dev/null 2>&1; then
    python=$(crm_python)
    echo "Creating .venv with $("$python" --version 2>&1)"
    rm -rf .venv
    "$python" -m venv .venv
  fi
  stamp=.venv/.crm-requirements.sha256
  want="$(sha256sum requirements.txt | cut -d' ' -f1) $(.venv/bin/python -c 'import sys; print(sys.version)' | head -n 1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "Installing requirements.txt into .venv"
    .venv/bin/python -m pip install --disable-pip-version-check --no-input -q -r requirements.txt
    echo "$want" >"$stamp"
  fi
}

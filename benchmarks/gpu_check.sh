#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py) with the project's venv; see that file for what it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" benchmarks/gpu_check.py "$@"

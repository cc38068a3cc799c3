# Two commands set everything up on a fresh machine: `make run` and `make test`.
# uv installs the locked dependencies (uv.lock) into .venv; it is itself installed with pip if missing.
# It also compiles them to bytecode once: where PYTHONDONTWRITEBYTECODE is set (this CI's machines),
# every leadpipe process would otherwise compile its libraries afresh, some 4 s a start.
UV := python3 -m uv

.PHONY: run test install lint

install:
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv==0.13.8"
	@$(UV) sync --locked --compile-bytecode --quiet

run: install
	$(UV) run leadpipe demo

lint: install
	$(UV) run ruff format --check src tests bench
	$(UV) run ruff check src tests bench
	$(UV) run mypy

test: lint
	$(UV) run pytest

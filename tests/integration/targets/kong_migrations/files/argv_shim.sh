#!/bin/sh
# Records the argument list of every kong invocation (to prove no secret is ever on it), then runs
# the real command given in KONG_MIGRATIONS_TEST_REAL (set by the target, not a secret).
printf '%s\n' "$*" >> "$KONG_MIGRATIONS_TEST_ARGV_LOG"
exec "$KONG_MIGRATIONS_TEST_REAL" "$@"

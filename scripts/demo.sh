#!/bin/sh
# Run the registry and the local VCC emulator until Ctrl-C.
set -eu
password=$(sed -n 's/^DEMO_PASSWORD=//p' .env)
if $MANAGE help vcc_emulator >/dev/null 2>&1; then
    $MANAGE vcc_emulator --port "$EMULATOR_PORT" &
    emulator=$!
    trap 'kill $emulator 2>/dev/null' EXIT INT TERM
fi
cat <<MSG

  VCC Registry is starting at http://$HOST:$PORT/
  Admin:          http://$HOST:$PORT/admin/
  VCC emulator:   http://127.0.0.1:$EMULATOR_PORT/
  Demo logins:    admin, registry, approver, agent, launcher, auditor
  Demo password:  $password   (from .env, unless you changed it)

MSG
$MANAGE runserver "$HOST:$PORT"

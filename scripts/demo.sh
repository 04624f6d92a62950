#!/bin/sh
# Run the registry and the local VCC emulator until Ctrl-C.
set -eu
password=$(sed -n 's/^DEMO_PASSWORD=//p' .env)

# The emulator posts finished sessions to the registry's webhook receiver with the bearer token
# VCC_WEBHOOK_TOKEN; it reads that from .env through the settings, so it never shows in `ps`.
webhook_host=$HOST
if [ "$HOST" = "0.0.0.0" ]; then
    webhook_host=127.0.0.1
fi
# Notifications: e-mails are written as files under var/mail/ (one file per message) and link
# to this server; set EMAIL_URL / SITE_URL in the environment to change either.
export EMAIL_URL="${EMAIL_URL:-filemail://}"
export SITE_URL="${SITE_URL:-http://$webhook_host:$PORT}"
mkdir -p var/mail
# The emulator is configured for the registry too: only then may pages frame its agent page.
export VCC_EMULATOR_URL="${VCC_EMULATOR_URL:-http://127.0.0.1:$EMULATOR_PORT}"

# Its world (what VCC has provisioned) is the file seed_demo just wrote, VCC_EMULATOR_WORLD
# (default var/vcc-emulator-world.json); both commands read that setting.
$MANAGE vcc_emulator --port "$EMULATOR_PORT" --webhook-url "http://$webhook_host:$PORT/vcc/webhook/" &
emulator=$!
# The background worker: sends notifications, applies scheduled promotions, checks credentials.
$MANAGE registry_worker &
worker=$!
trap 'kill $emulator $worker 2>/dev/null' EXIT INT TERM

cat <<MSG

  VCC Registry is starting at http://$HOST:$PORT/
  Admin:          http://$HOST:$PORT/admin/
  VCC emulator:   http://127.0.0.1:$EMULATOR_PORT/  (the demo accounts' VCC; see README)
  Worker:         registry_worker (notifications, schedules, credential checks)
  E-mails:        written as files under var/mail/
  Demo logins:    admin, registry, approver, agent, launcher, auditor
  Demo password:  $password   (from .env, unless you changed it)

MSG
$MANAGE runserver "$HOST:$PORT"

#!/bin/sh
# reimage.sh — healer repair step: have the operator's provisioning system
# re-image the sick agent's machine, then reboot into it (agent scope).
#
#   --repair_set=reimage=/usr/local/libexec/healer/reimage.sh --url https://provisioner.example.com/api/v1/reimage
#   ladder step: {action: reimage, scope: agent, timeout: 10mins, drain: true, approval: true}
#
# This is a hook: healer knows nothing of how machines are installed. The
# script hands the machine to your provisioning system — an HTTP POST (--url)
# or a program of yours (--command) — and, once that system has accepted it,
# schedules the reboot into the new image with reboot.sh (beside this script)
# and exits 0, so the outcome reaches healer before the machine goes down
# (docs/executor.md, "A step that takes the machine down"). With --no-reboot
# the provisioning system reboots the machine itself; it must not do so
# before this step has exited.
#
# The POST's JSON body: {"hostname", "agent_id", "problem" (strings),
# "incident", "attempt" (numbers), "requested_by": "healer"}, with the header
# Idempotency-Key: healer-<agent id>-<attempt>: a retried launch of the same
# attempt sends the same key, so the provisioning system can tell a retry
# from a new request.
# Any 2xx answer is acceptance.
#
# Inputs, set by healer (docs/configuration.md, "What a repair command gets"):
#   REPAIR_HOSTNAME, REPAIR_AGENT_ID, REPAIR_PROBLEM,
#   REPAIR_INCIDENT, REPAIR_ATTEMPT   required; sent to the provisioning system
#   REPAIR_SCOPE                      must be "agent"
# --command's program gets the same REPAIR_* environment.
#
# Options:
#   --url URL           POST the request there (curl)
#   --header-file FILE  extra request headers, one per line, e.g.
#                       "Authorization: Bearer <token>" (curl -H @FILE; keeps
#                       the token off the command line; chmod 600 it)
#   --command CMD       run CMD with /bin/sh -c instead of a POST; exit 0 means
#                       accepted
#   --no-reboot         do not schedule a reboot afterwards
#   --delay SECONDS     passed to reboot.sh (default 60)
#   --dry-run           check the inputs, print what would be done, change nothing
# Exactly one of --url and --command.
#
# Exit codes:
#   0  the provisioning system accepted the machine and the reboot is
#      scheduled (or, with --dry-run, would be)
#   1  the provisioning system refused or could not be reached, or the reboot
#      could not be scheduled: healer escalates
#   2  usage: an unknown option, not exactly one of --url and --command, a
#      missing or wrong REPAIR_* input, a missing tool (curl) or file
set -eu

me=reimage.sh
url=
header_file=
command=
reboot=1
delay=60
dry_run=0

usage() { echo "$me: $*" >&2; exit 2; }
fail() { echo "$me: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case "$1" in
	--url) [ $# -ge 2 ] || usage "--url needs a URL"; url=$2; shift 2 ;;
	--url=*) url=${1#--url=}; shift ;;
	--header-file) [ $# -ge 2 ] || usage "--header-file needs a file"; header_file=$2; shift 2 ;;
	--header-file=*) header_file=${1#--header-file=}; shift ;;
	--command) [ $# -ge 2 ] || usage "--command needs a command"; command=$2; shift 2 ;;
	--command=*) command=${1#--command=}; shift ;;
	--no-reboot) reboot=0; shift ;;
	--delay) [ $# -ge 2 ] || usage "--delay needs a number of seconds"; delay=$2; shift 2 ;;
	--delay=*) delay=${1#--delay=}; shift ;;
	--dry-run) dry_run=1; shift ;;
	-h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) usage "unknown option $1 (see $me --help)" ;;
	esac
done

for v in REPAIR_HOSTNAME REPAIR_AGENT_ID REPAIR_PROBLEM REPAIR_INCIDENT REPAIR_ATTEMPT REPAIR_SCOPE; do
	eval "val=\${$v:-}"
	[ -n "$val" ] || usage "$v is not set: this script runs as a healer repair step, which sets REPAIR_* (docs/configuration.md)"
done
[ "$REPAIR_SCOPE" = agent ] || usage "REPAIR_SCOPE is '$REPAIR_SCOPE', not 'agent': a re-image step must run on the agent (scope agent or slave), never on healer's host"
case "$REPAIR_INCIDENT$REPAIR_ATTEMPT" in *[!0-9]*) usage "REPAIR_INCIDENT and REPAIR_ATTEMPT must be numbers, got '$REPAIR_INCIDENT' and '$REPAIR_ATTEMPT'" ;; esac
if [ -n "$url" ] && [ -n "$command" ]; then usage "give --url or --command, not both"; fi
if [ -z "$url" ] && [ -z "$command" ]; then usage "give --url (POST to your provisioning system) or --command (a program of yours)"; fi
case "$url" in '' | http://* | https://*) ;; *) usage "--url '$url' is not an http:// or https:// URL" ;; esac
if [ -n "$header_file" ] && [ ! -r "$header_file" ]; then usage "--header-file $header_file cannot be read"; fi
rebooter="$(dirname "$0")/reboot.sh"
if [ "$reboot" = 1 ] && [ ! -x "$rebooter" ]; then usage "$rebooter is missing: install it beside $me, or give --no-reboot"; fi

# json quotes a string for JSON: healer's names hold no control characters,
# but a problem name may hold a quote or a backslash.
json() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

echo "re-image of $REPAIR_HOSTNAME ($REPAIR_AGENT_ID) for $REPAIR_PROBLEM, incident $REPAIR_INCIDENT, attempt $REPAIR_ATTEMPT"
if [ -n "$url" ]; then
	body=$(printf '{"hostname":%s,"agent_id":%s,"problem":%s,"incident":%s,"attempt":%s,"requested_by":"healer"}' \
		"$(json "$REPAIR_HOSTNAME")" "$(json "$REPAIR_AGENT_ID")" "$(json "$REPAIR_PROBLEM")" \
		"$REPAIR_INCIDENT" "$REPAIR_ATTEMPT")
	key="healer-$REPAIR_AGENT_ID-$REPAIR_ATTEMPT"
	if [ "$dry_run" = 1 ]; then
		echo "dry-run: would POST to $url (Idempotency-Key: $key${header_file:+, headers from $header_file}): $body"
	else
		command -v curl >/dev/null 2>&1 || usage "curl is not on PATH: cannot POST to $url"
		echo "+ POST $url (Idempotency-Key: $key)"
		set -- -fsS --max-time 60 --retry 3 --retry-connrefused -X POST \
			-H 'Content-Type: application/json' -H "Idempotency-Key: $key"
		[ -z "$header_file" ] || set -- "$@" -H "@$header_file"
		curl "$@" --data "$body" "$url" || fail "the provisioning system at $url did not accept $REPAIR_HOSTNAME (curl exit $?)"
		echo
	fi
else
	if [ "$dry_run" = 1 ]; then
		echo "dry-run: would run: /bin/sh -c '$command'"
	else
		echo "+ $command"
		/bin/sh -c "$command" || fail "the provisioning command did not accept $REPAIR_HOSTNAME (exit $?)"
	fi
fi
[ "$dry_run" = 1 ] || echo "the provisioning system accepted $REPAIR_HOSTNAME"

if [ "$reboot" = 1 ]; then
	if [ "$dry_run" = 1 ]; then
		"$rebooter" --delay "$delay" --dry-run
	else
		"$rebooter" --delay "$delay" || fail "the machine is staged for re-imaging, but its reboot could not be scheduled"
	fi
elif [ "$dry_run" = 1 ]; then
	echo "dry-run: nothing was changed"
fi

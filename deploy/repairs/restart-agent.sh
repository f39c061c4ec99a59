#!/bin/sh
# restart-agent.sh — healer repair step: restart the Mesos agent service on the
# sick agent and wait until it answers healthy again (agent scope).
#
#   --repair_set=restart_agent=/usr/local/libexec/healer/restart-agent.sh
#   ladder step: {action: restart_agent, scope: agent, timeout: 5mins}
#
# The step runs under healer-executor, which the Mesos agent started: it
# survives the restart only when the agent's systemd unit has KillMode=process
# (what Mesos recommends, so that checkpointed executors outlive an agent
# restart). With any other KillMode, systemd would kill this task along with
# the agent, the step would count as lost and healer would escalate, so the
# script refuses to restart and says why.
#
# Inputs, set by healer (docs/configuration.md, "What a repair command gets"):
#   REPAIR_HOSTNAME, REPAIR_AGENT_ID, REPAIR_PROBLEM   required; logged
#   REPAIR_SCOPE     must be "agent" (on healer's host it would restart the
#                    wrong agent, or none)
#   REPAIR_TIMEOUT   the step's timeout in seconds: the health wait ends 10 s
#                    before it, so a failure is reported rather than killed
#   MESOS_AGENT_ENDPOINT  set by the agent for its executors (ip:port): where
#                    the agent's /health is asked
#
# Options:
#   --service NAME     the agent's systemd unit (default mesos-agent; older
#                      packages call it mesos-slave, DC/OS dcos-mesos-slave)
#   --health-url URL   what must answer 200 after the restart (default
#                      http://$MESOS_AGENT_ENDPOINT/health, else
#                      http://127.0.0.1:5051/health)
#   --wait SECONDS     how long to wait for it (default 120)
#   --dry-run          check the inputs, print what would be done, change nothing
#
# Exit codes:
#   0  the service restarted and the agent answers healthy (or, with
#      --dry-run, would be restarted)
#   1  the restart failed, or the agent did not answer healthy in time: healer
#      escalates
#   2  usage: an unknown option, a missing or wrong REPAIR_* input, a missing
#      tool (systemctl, curl or wget), the unit's KillMode is not "process",
#      or no root (--user=root, or a passwordless sudo rule for this script)
set -eu

me=restart-agent.sh
service=mesos-agent
health_url=
wait=120
dry_run=0

usage() { echo "$me: $*" >&2; exit 2; }
fail() { echo "$me: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case "$1" in
	--service) [ $# -ge 2 ] || usage "--service needs a unit name"; service=$2; shift 2 ;;
	--service=*) service=${1#--service=}; shift ;;
	--health-url) [ $# -ge 2 ] || usage "--health-url needs a URL"; health_url=$2; shift 2 ;;
	--health-url=*) health_url=${1#--health-url=}; shift ;;
	--wait) [ $# -ge 2 ] || usage "--wait needs a number of seconds"; wait=$2; shift 2 ;;
	--wait=*) wait=${1#--wait=}; shift ;;
	--dry-run) dry_run=1; shift ;;
	-h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) usage "unknown option $1 (see $me --help)" ;;
	esac
done

for v in REPAIR_HOSTNAME REPAIR_AGENT_ID REPAIR_PROBLEM REPAIR_SCOPE; do
	eval "val=\${$v:-}"
	[ -n "$val" ] || usage "$v is not set: this script runs as a healer repair step, which sets REPAIR_* (docs/configuration.md)"
done
[ "$REPAIR_SCOPE" = agent ] || usage "REPAIR_SCOPE is '$REPAIR_SCOPE', not 'agent': restarting the agent service must run on the agent (scope agent or slave)"
case "$service" in '' | *[!A-Za-z0-9_.@-]*) usage "--service '$service' is not a systemd unit name" ;; esac
case "$wait" in '' | *[!0-9]*) usage "--wait must be a whole number of seconds, got '$wait'" ;; esac
case "${REPAIR_TIMEOUT:-}" in
'' | *[!0-9]*) ;;
*) if [ "$wait" -gt $((REPAIR_TIMEOUT - 10)) ] && [ "$REPAIR_TIMEOUT" -gt 10 ]; then wait=$((REPAIR_TIMEOUT - 10)); fi ;;
esac
if [ -z "$health_url" ]; then
	if [ -n "${MESOS_AGENT_ENDPOINT:-}" ]; then
		health_url="http://$MESOS_AGENT_ENDPOINT/health"
	else
		health_url="http://127.0.0.1:5051/health"
	fi
fi

# privileged runs a command as root: directly, or through a passwordless sudo.
privileged() {
	if [ "$dry_run" = 1 ]; then
		echo "dry-run: would run: $*"
		return 0
	fi
	echo "+ $*"
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

# healthy is true when the agent answers its health endpoint with a 2xx.
healthy() {
	if command -v curl >/dev/null 2>&1; then
		curl -fsS -o /dev/null --max-time 5 "$health_url" 2>/dev/null
	else
		wget -q -O /dev/null -T 5 "$health_url" 2>/dev/null
	fi
}

echo "restart of $service on $REPAIR_HOSTNAME ($REPAIR_AGENT_ID) for $REPAIR_PROBLEM; then wait up to ${wait}s for $health_url"

if [ "$dry_run" = 1 ]; then
	echo "dry-run: would check that $service has KillMode=process"
	privileged systemctl restart "$service"
	echo "dry-run: would wait up to ${wait}s for $health_url to answer 200"
	echo "dry-run: nothing was changed"
	exit 0
fi

command -v systemctl >/dev/null 2>&1 || usage "systemctl is not on PATH: this script restarts a systemd unit"
command -v curl >/dev/null 2>&1 || command -v wget >/dev/null 2>&1 || usage "neither curl nor wget is on PATH: cannot ask $health_url"
[ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null ||
	usage "not root, and no passwordless sudo: run healer's repair tasks as root (--user=root) or allow this script in sudoers"
killmode=$(systemctl show -p KillMode --value "$service" 2>/dev/null || true)
[ "$killmode" = process ] ||
	usage "$service has KillMode='$killmode', not 'process': restarting it would kill this repair task with the agent's executors (set KillMode=process in the unit, as Mesos recommends, or use another step)"

privileged systemctl restart "$service" || fail "systemctl restart $service failed"
i=0
while [ "$i" -lt "$wait" ]; do
	if healthy; then
		echo "$service restarted; $health_url answers healthy after ${i}s"
		exit 0
	fi
	sleep 2
	i=$((i + 2))
done
fail "$service restarted, but $health_url did not answer healthy within ${wait}s"

#!/bin/sh
# reboot.sh — healer repair step: reboot the sick agent's machine (agent scope).
#
#   --repair_set=reboot=/usr/local/libexec/healer/reboot.sh
#   ladder step: {action: reboot, scope: agent, timeout: 5mins, drain: true}
#
# It does not reboot the machine itself. It SCHEDULES the reboot, outside this
# task's process group, and exits 0 at once, so that its outcome reaches healer
# before the machine goes down: a task that dies with its machine counts as
# lost, and healer escalates a lost step (docs/executor.md, "A step that takes
# the machine down"). healer then watches the machine come back, under a new
# Mesos agent id with the same hostname, through probation.
#
# Inputs, set by healer (docs/configuration.md, "What a repair command gets"):
#   REPAIR_HOSTNAME, REPAIR_AGENT_ID, REPAIR_PROBLEM,
#   REPAIR_INCIDENT, REPAIR_ATTEMPT   required; logged, and name the reboot timer
#   REPAIR_SCOPE                      must be "agent": run from the scheduler's
#                                     host (scope master) it would reboot healer's
#                                     own machine, so it refuses
#
# Options:
#   --delay SECONDS   when the reboot happens, from now (default 60, at least 30:
#                     time for the executor to report, the agent to forward the
#                     update and healer to record it)
#   --dry-run         check the inputs, print what would be done, change nothing
#
# Exit codes:
#   0  the reboot is scheduled (already scheduled by an earlier run of the same
#      attempt counts), or with --dry-run, would be
#   1  scheduling the reboot failed: nothing will happen, healer escalates
#   2  usage: an unknown option, a missing or wrong REPAIR_* input, no tool to
#      schedule a reboot with, or no root (run repair tasks as root: --user=root,
#      or give this script a passwordless sudo rule)
set -eu

me=reboot.sh
delay=60
dry_run=0

usage() { echo "$me: $*" >&2; exit 2; }
fail() { echo "$me: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case "$1" in
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
[ "$REPAIR_SCOPE" = agent ] || usage "REPAIR_SCOPE is '$REPAIR_SCOPE', not 'agent': a reboot step must run on the agent (scope agent or slave), never on healer's host"
case "$delay" in '' | *[!0-9]*) usage "--delay must be a whole number of seconds, got '$delay'" ;; esac
[ "$delay" -ge 30 ] || usage "--delay $delay is too short: leave at least 30 seconds for the outcome to reach healer"

# privileged runs a command as root: directly, or through a passwordless sudo.
privileged() {
	if [ "$dry_run" = 1 ]; then
		echo "dry-run: would run: $*"
		return 0
	fi
	echo "+ $*"
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

unit="healer-reboot-$REPAIR_INCIDENT-$REPAIR_ATTEMPT"
echo "reboot of $REPAIR_HOSTNAME ($REPAIR_AGENT_ID) for $REPAIR_PROBLEM, incident $REPAIR_INCIDENT, attempt $REPAIR_ATTEMPT: in ${delay}s"

if [ "$dry_run" = 0 ]; then
	[ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null ||
		usage "not root, and no passwordless sudo: run healer's repair tasks as root (--user=root) or allow this script in sudoers"
	command -v logger >/dev/null && logger -t healer "$me: reboot of $REPAIR_HOSTNAME in ${delay}s for $REPAIR_PROBLEM (incident $REPAIR_INCIDENT, attempt $REPAIR_ATTEMPT)" || true
fi

# What schedules it: a transient systemd timer where there is systemd, else
# shutdown(8). Either lives outside this task's process group, which the
# executor kills when the step ends ("(sleep 60; reboot) &" would die with it).
if command -v systemd-run >/dev/null 2>&1; then
	tool=systemd-run
elif command -v shutdown >/dev/null 2>&1; then
	tool=shutdown
elif [ "$dry_run" = 1 ]; then
	tool=systemd-run
else
	usage "neither systemd-run nor shutdown is on PATH: nothing can schedule the reboot"
fi

if [ "$tool" = systemd-run ]; then
	# A retried launch of the same attempt finds its timer already there.
	if [ "$dry_run" = 0 ] && systemctl is-active --quiet "$unit.timer" 2>/dev/null; then
		echo "the reboot is already scheduled ($unit.timer)"
		exit 0
	fi
	privileged systemd-run --on-active="${delay}s" --unit="$unit" --description="healer: reboot for $REPAIR_PROBLEM" \
		/bin/systemctl reboot || fail "systemd-run could not schedule the reboot"
else
	# shutdown counts in whole minutes.
	privileged shutdown -r "+$(((delay + 59) / 60))" "healer: reboot for $REPAIR_PROBLEM" ||
		fail "shutdown could not schedule the reboot"
fi
if [ "$dry_run" = 1 ]; then echo "dry-run: nothing was changed"; else echo "reboot scheduled"; fi

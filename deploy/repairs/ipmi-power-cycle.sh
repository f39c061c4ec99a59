#!/bin/sh
# ipmi-power-cycle.sh — healer repair step: power-cycle the sick agent's
# machine through its BMC with ipmitool (master scope).
#
#   --repair_set=power_cycle=/usr/local/libexec/healer/ipmi-power-cycle.sh --bmc-host '{short}-ipmi.example.com' --user healer --password-file /etc/healer/ipmi-password
#   ladder step: {action: power_cycle, scope: master, timeout: 10mins}
#
# For a machine too broken to run a task (a hung kernel, a dead agent): it
# runs on healer-scheduler's host — inside healer's container, whose image
# carries ipmitool and this script — not on the agent, and reports normally.
# A machine whose power is off is powered on instead. The step succeeds when
# the BMC reports the power on again; whether the machine is healthy is for
# probation to judge.
#
# Inputs, set by healer (docs/configuration.md, "What a repair command gets"):
#   REPAIR_HOSTNAME   required: the machine; its BMC's address is made from it
#   REPAIR_AGENT_ID, REPAIR_PROBLEM   required; logged
#   REPAIR_SCOPE      must be "master": the BMC is reached from healer's host
#
# Options:
#   --bmc-host TEMPLATE  the BMC's address: {host} is replaced by
#                        REPAIR_HOSTNAME, {short} by its first label (required;
#                        e.g. '{short}-ipmi.mgmt.example.com')
#   --user NAME          the BMC user (required)
#   --password-file FILE the BMC password, alone in a file (required; ipmitool
#                        -f, so it is never on a command line; chmod 600 it)
#   --interface NAME     ipmitool's interface (default lanplus)
#   --wait SECONDS       how long to wait for the power to be on again
#                        (default 120)
#   --dry-run            check the inputs, print what would be done, change nothing
#
# Exit codes:
#   0  the machine was power-cycled (or powered on) and the BMC reports it on
#      (or, with --dry-run, would be)
#   1  the BMC could not be reached, refused, or does not report the power on
#      in time: healer escalates
#   2  usage: an unknown option, a missing option or REPAIR_* input, a wrong
#      REPAIR_SCOPE, an unreadable password file, ipmitool not on PATH
set -eu

me=ipmi-power-cycle.sh
bmc_template=
bmc_user=
password_file=
interface=lanplus
wait=120
dry_run=0

usage() { echo "$me: $*" >&2; exit 2; }
fail() { echo "$me: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case "$1" in
	--bmc-host) [ $# -ge 2 ] || usage "--bmc-host needs a template"; bmc_template=$2; shift 2 ;;
	--bmc-host=*) bmc_template=${1#--bmc-host=}; shift ;;
	--user) [ $# -ge 2 ] || usage "--user needs a name"; bmc_user=$2; shift 2 ;;
	--user=*) bmc_user=${1#--user=}; shift ;;
	--password-file) [ $# -ge 2 ] || usage "--password-file needs a file"; password_file=$2; shift 2 ;;
	--password-file=*) password_file=${1#--password-file=}; shift ;;
	--interface) [ $# -ge 2 ] || usage "--interface needs a name"; interface=$2; shift 2 ;;
	--interface=*) interface=${1#--interface=}; shift ;;
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
[ "$REPAIR_SCOPE" = master ] || usage "REPAIR_SCOPE is '$REPAIR_SCOPE', not 'master': an IPMI power cycle runs from healer's host (scope master)"
[ -n "$bmc_template" ] || usage "give --bmc-host, e.g. --bmc-host '{short}-ipmi.mgmt.example.com'"
[ -n "$bmc_user" ] || usage "give --user, the BMC user"
[ -n "$password_file" ] || usage "give --password-file, a file holding the BMC password"
[ -r "$password_file" ] || usage "--password-file $password_file cannot be read"
case "$wait" in '' | *[!0-9]*) usage "--wait must be a whole number of seconds, got '$wait'" ;; esac
case "$REPAIR_HOSTNAME" in *[!A-Za-z0-9.-]*) usage "REPAIR_HOSTNAME '$REPAIR_HOSTNAME' is not a DNS name" ;; esac

short=${REPAIR_HOSTNAME%%.*}
bmc=$(printf '%s\n' "$bmc_template" | sed "s/{host}/$REPAIR_HOSTNAME/g; s/{short}/$short/g")
case "$bmc" in *[!A-Za-z0-9.:-]*) usage "the BMC address '$bmc' (from --bmc-host '$bmc_template') is not a host name or address" ;; esac

echo "power cycle of $REPAIR_HOSTNAME ($REPAIR_AGENT_ID) for $REPAIR_PROBLEM through its BMC $bmc"
if [ "$dry_run" = 1 ]; then
	echo "dry-run: would run: ipmitool -I $interface -H $bmc -U $bmc_user -f $password_file chassis power status"
	echo "dry-run: would run: ipmitool -I $interface -H $bmc -U $bmc_user -f $password_file chassis power cycle (power on, if it is off)"
	echo "dry-run: would wait up to ${wait}s for the BMC to report the power on"
	echo "dry-run: nothing was changed"
	exit 0
fi
command -v ipmitool >/dev/null 2>&1 || usage "ipmitool is not on PATH (build healer's image with it: docs/install-marathon.md)"

ipmi() { ipmitool -I "$interface" -H "$bmc" -U "$bmc_user" -f "$password_file" "$@"; }

status=$(ipmi chassis power status 2>&1) || fail "cannot reach the BMC $bmc: $status"
case "$status" in
*" is on"*) op=cycle ;;
*" is off"*) op=on ;;
*) fail "the BMC $bmc answered an unknown power status: $status" ;;
esac
echo "+ ipmitool -I $interface -H $bmc -U $bmc_user -f $password_file chassis power $op ($status)"
out=$(ipmi chassis power "$op" 2>&1) || fail "chassis power $op refused by $bmc: $out"
echo "$out"

i=0
while [ "$i" -le "$wait" ]; do
	sleep 5
	i=$((i + 5))
	status=$(ipmi chassis power status 2>&1) || continue
	case "$status" in *" is on"*)
		echo "power $op done: $status after ${i}s"
		exit 0
		;;
	esac
done
fail "after power $op the BMC $bmc does not report the power on within ${wait}s (last: $status)"

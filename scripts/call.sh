#!/usr/bin/env bash
# call.sh — `make call`: after `make run` in another terminal, places one call
# with SIPp (sip/siptest/scenarios/ivr_key.xml: dial, listen, press KEY by RFC 4733,
# listen, hang up), prints what SIPp saw, then the call record (`bin/hotline calls -last 1`).
#
# Environment: KEY (default 1; 0-9, * or #), HOTLINE_SIP (default 127.0.0.1:5060),
# HOTLINE_NUMBER (default 12345), HOTLINE_CONFIG (default configs/hotline.yaml), CALLER
# (default 13800000000), ANSWER_WAIT_MS (default 6000: after the 4 s greeting; ANSWER_WAIT_MS=1500 types the key during it, which in office hours answers the menu) and AFTER_KEY_MS (default 8000):
# the pauses before and after the key.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
key=${KEY:-1}
target=${HOTLINE_SIP:-127.0.0.1:5060}
number=${HOTLINE_NUMBER:-12345}
caller=${CALLER:-13800000000}
scenario=sip/siptest/scenarios/ivr_key.xml
work=.data/call

die() {
	printf 'call: %s\n' "$*" >&2
	exit 1
}

case $key in
[0-9]) pcap=dtmf_2833_$key.pcap ;;
'*') pcap=dtmf_2833_star.pcap ;;
'#') pcap=dtmf_2833_pound.pcap ;;
*) die "KEY must be one of 0-9, * or # (got '$key')" ;;
esac
[[ -f $scenario ]] || die "$scenario is missing"
if ! command -v sipp >/dev/null 2>&1 || [[ ! -f /usr/share/sip-tester/$pcap ]]; then
	scripts/services.sh tools
fi

# SIPp reads play_pcap_audio files beside the scenario, under the fixed name key.pcap.
rm -rf "$work"
mkdir -p "$work"
cp "$scenario" "$work/ivr_key.xml"
ln -s "/usr/share/sip-tester/$pcap" "$work/key.pcap"

# free_udp_port prints a random even UDP port in 20000-59998 that nothing listens on.
# SIPp's own default SIP port is 5060, the server's, and -p 0 means that default.
free_udp_port() {
	local port i
	for ((i = 0; i < 50; i++)); do
		port=$((20000 + RANDOM % 20000 * 2))
		if ! command -v ss >/dev/null 2>&1 || [[ -z $(ss -Hlun "( sport = :$port or sport = :$((port + 1)) )") ]]; then
			printf '%s\n' "$port"
			return
		fi
	done
	die "no free UDP port found for SIPp"
}

# A loopback target gets SIPp's SIP and RTP on loopback too.
local_ip=()
[[ $target == 127.* || $target == localhost:* ]] && local_ip=(-i 127.0.0.1 -mi 127.0.0.1 -bind_local)
echo "call: dialling $number at $target from $caller, pressing $key (SIPp log: $work/)"
rc=0
# A Call-ID of our own, so the record printed below is this call's.
cid="make-call-$$-$RANDOM"
(cd "$work" && sipp -sf ivr_key.xml -s "$number" -m 1 "${local_ip[@]}" -cid_str "$cid-%u" \
	-p "$(free_udp_port)" -mp "$(free_udp_port)" -key caller "$caller" \
	-set answer_wait "${ANSWER_WAIT_MS:-6000}" -set after_key "${AFTER_KEY_MS:-8000}" \
	-timeout 60s -timeout_error -nostdin \
	-trace_screen -screen_file screen.log -trace_err -error_file errors.log \
	"$target" >sipp.out 2>&1) || rc=$?

# The last screen SIPp dumped: each message of the scenario with its count.
if [[ -s $work/screen.log ]]; then
	awk '/Messages +Retrans/ { p = 1 } p && /^-/ { exit } p { sub(/ +$/, ""); print }' "$work/screen.log" || true
fi
if ((rc == 0)); then
	echo "call: SIPp reports the call succeeded"
else
	echo "call: SIPp reports failure (exit $rc); see $work/errors.log and $work/sipp.out" >&2
	if [[ -s $work/errors.log ]]; then
		tail -n 20 "$work/errors.log" >&2
		echo >&2
	fi
fi

if [[ -f .data/services.env ]]; then
	# shellcheck source=/dev/null
	. .data/services.env
fi
# The record is written when the call ends, with the other calls ending
# within the writer's group-commit window: wait for it a few seconds.
echo "call: its call record:"
for ((i = 0; i < 20; i++)); do
	out=$(bin/hotline calls -last 20 -config "${HOTLINE_CONFIG:-configs/hotline.yaml}") || {
		rc=1
		break
	}
	if grep -qF "$cid-1" <<<"$out"; then
		head -n 1 <<<"$out"
		grep -F "$cid-1" <<<"$out"
		exit "$rc"
	fi
	sleep 0.25
done
echo "call: no record of $cid-1 after 5 s (is the server writing records? see its log)" >&2
exit 1

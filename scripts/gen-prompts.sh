#!/usr/bin/env bash
# gen-prompts.sh — regenerate the IVR prompts in ivr/prompts/<lang>/<name>.wav.
#
# Every prompt is synthesised with espeak-ng and converted by sox to what the media
# engine plays: RIFF WAV, PCM 16-bit signed, mono, 8 kHz, leading/trailing silence
# trimmed, normalised to -3 dBFS, followed by 100 ms of silence so prompts said one
# after another (e.g. "您现在排在第" "三" "位") do not run together.
# hold_music is synthesised by sox alone (a soft C–Am–F–G arpeggio, not silence).
#
# Needs the Debian packages espeak-ng and sox. Output is deterministic (sox -D: no
# dither), so re-running it on an unchanged script changes no committed file.
#
# Mandarin uses the espeak-ng voice "cmn-latn-pinyin": in espeak-ng 1.51 (Debian 12)
# the plain "cmn" voice turns Hanzi into pinyin and then reads that pinyin as English
# ("您好" comes out as "nin two hao three"); cmn-latn-pinyin reads the same text
# correctly. Check with: espeak-ng -q -v cmn --ipa "您好".
#
# To use recorded voice instead, see ivr/README-prompts.md.
set -euo pipefail

cd "$(dirname "$0")/.."
out=ivr/prompts
for tool in espeak-ng sox; do
	command -v "$tool" >/dev/null || {
		echo "gen-prompts: $tool not found; install it with: sudo apt-get install espeak-ng sox" >&2
		exit 1
	}
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# say LANG VOICE SPEED NAME TEXT — synthesise one prompt.
say() {
	local lang=$1 voice=$2 speed=$3 name=$4 text=$5
	espeak-ng -v "$voice" -s "$speed" -w "$tmp/raw.wav" "$text" 2>/dev/null
	sox -D -V1 "$tmp/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$out/$lang/$name.wav" \
		silence 1 0.02 -45d reverse silence 1 0.02 -45d reverse \
		norm -3 pad 0 0.1
}

# hold LANG — a gentle four-chord arpeggio loop (about 3.6 s).
hold() {
	local lang=$1 parts=() i=0 chord n
	for chord in "C4 E4 G4" "A3 C4 E4" "F3 A3 C4" "G3 B3 D4"; do
		for n in $chord; do
			sox -D -V1 -n -r 8000 -c 1 -b 16 "$tmp/note$i.wav" \
				synth 0.3 pluck "$n" fade q 0.01 0.3 0.15 vol 0.5
			parts+=("$tmp/note$i.wav")
			i=$((i + 1))
		done
	done
	sox -D -V1 "${parts[@]}" -e signed-integer "$out/$lang/hold_music.wav" \
		reverb 30 norm -6
}

# Speeds (words per minute) keep the prompts short: both languages together stay
# under 2 MB at 8 kHz 16-bit.
zh() { say zh-CN cmn-latn-pinyin 210 "$1" "$2"; }
en() { say en en-us 185 "$1" "$2"; }

rm -f "$out"/zh-CN/*.wav "$out"/en/*.wav
mkdir -p "$out/zh-CN" "$out/en"

# Flow prompts (names are the Prompt* constants in ivr/prompts.go).
zh welcome "您好，这里是公共服务热线，很高兴为您服务。"
en welcome "Hello, this is the public service hotline. We are glad to help you."
zh menu "咨询请按1，投诉建议请按2，紧急求助请按3，业务办理请按4，优先帮助请按9，重听请按0。"
en menu "For inquiries press 1, complaints and suggestions 2, emergencies 3, business services 4, priority help 9. To repeat, press 0."
zh after_hours "现在是非工作时间，人工服务暂停。"
en after_hours "Our office is closed now."
zh menu_after_hours "预约回电请按1，紧急求助请按3，重听请按0。"
en menu_after_hours "For a callback press 1, emergencies 3. To repeat, press 0."
zh invalid_choice "您的输入有误，请重新选择。"
en invalid_choice "Sorry, that is not a valid choice."
zh no_input "我们没有收到您的按键。"
en no_input "We did not receive your choice."
zh goodbye "感谢您的来电，再见。"
en goodbye "Thank you for calling. Goodbye."
zh priority_ack "已为您优先安排。"
en priority_ack "You will be given priority."
zh queue_entered "正在为您转接，请稍候。"
en queue_entered "Please hold for an agent."
zh queue_emergency "您的紧急来电将优先处理，请不要挂机。"
en queue_emergency "Your emergency call will be answered first. Please stay on the line."
zh queue_position_prefix "您现在排在第"
en queue_position_prefix "You are number"
zh queue_position_suffix "位"
en queue_position_suffix "in the queue."
zh queue_wait_prefix "预计等待"
en queue_wait_prefix "The estimated wait is"
zh queue_wait_suffix "分钟"
en queue_wait_suffix "minutes."
zh queue_wait_suffix_one "分钟"
en queue_wait_suffix_one "minute."
zh callback_offer "坐席繁忙，需要回电请按1，继续等待请不要挂机。"
en callback_offer "All agents are busy. To be called back, press 1, or stay on the line."
zh callback_confirmed "已为您登记回电，我们会尽快联系您。"
en callback_confirmed "Thank you, we will call you back soon."
zh callback_intro "您好，这里是公共服务热线，现在给您回电，请稍候。"
en callback_intro "Hello, this is the hotline returning your call. Please hold for an agent."
zh sorry_error "抱歉，系统故障，请稍后再拨。"
en sorry_error "Sorry, a technical problem. Please call again later."
zh agent_number_prefix "工号"
en agent_number_prefix "Agent number"
zh agent_number_suffix "为您服务"
en agent_number_suffix "is here to help you."
zh ticket_number_prefix "您的工单号是"
en ticket_number_prefix "Your ticket number is"
# Feature codes dialled by agents (*1 available, *2 pause, *0 log out, *3 wrap-up done).
zh feature_ok "操作成功"
en feature_ok "Done"
zh feature_failed "操作失败"
en feature_failed "That did not work"
# After the agent hangs up (S18 survey, S17 complaint reference) and nuisance numbers (S21).
zh survey "请对本次服务进行评价，满意请按1，一般请按2，不满意请按3。"
en survey "Please rate our service: satisfied, press 1; neutral, press 2; dissatisfied, press 3."
zh survey_thanks "感谢您的评价。"
en survey_thanks "Thank you for your feedback."
zh nuisance "本热线为公共服务热线，请勿占用。再见。"
en nuisance "This line is for public service requests only. Goodbye."
# A language offered in its own words, before its key said as a number (ivr.LanguageOption):
# a Mandarin greeting ends "For English, press" "eight".
zh language_offer "中文服务请按"
en language_offer "For English, press"
hold zh-CN
hold en

# Numbers: Mandarin builds every number from 零..十, 两, 百, 千, 万 (see SayNumber).
zh_digits=(零 一 二 三 四 五 六 七 八 九 十)
for i in "${!zh_digits[@]}"; do zh "num_$i" "${zh_digits[$i]}"; done
zh num_liang "两"
zh num_100 "百"
zh num_1000 "千"
zh num_10000 "万"

# English needs 0..19, the tens, hundred and thousand.
en_words=(zero one two three four five six seven eight nine ten eleven twelve thirteen
	fourteen fifteen sixteen seventeen eighteen nineteen)
for i in "${!en_words[@]}"; do en "num_$i" "${en_words[$i]}"; done
en_tens=(twenty thirty forty fifty sixty seventy eighty ninety)
for i in "${!en_tens[@]}"; do en "num_$(((i + 2) * 10))" "${en_tens[$i]}"; done
en num_100 "hundred"
en num_1000 "thousand"

echo "gen-prompts: $(ls "$out"/*/*.wav | wc -l) prompts, $(cat "$out"/*/*.wav | wc -c) bytes"
